"""Saved searches: definitions, the registry search, the runner, similarity, config seeding."""
