"""Storage: snapshots and their codec, runs, meta, locks, and the read-side queries."""
