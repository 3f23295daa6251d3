"""Reporting: digests (built, rendered, templates), events ranked for people, review and
acknowledgement, notification channels and delivery, page queries, exports."""
