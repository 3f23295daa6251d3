"""Pure tests: no database, no network, no subprocess; the real samples are read from disk."""
