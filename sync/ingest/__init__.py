"""Getting records in: the freshness gate, one sync run, the history backfill."""
