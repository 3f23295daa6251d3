"""The attack suite: registry faults, crashes and concurrency against the whole system."""
