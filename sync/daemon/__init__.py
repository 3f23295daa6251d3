"""The daemon: the scheduler service, its schedule, its single-leader lock and its status."""
