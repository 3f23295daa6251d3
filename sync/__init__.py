"""trialwatch: keep a versioned copy of ClinicalTrials.gov records and report what changed.

The package in layers; a layer imports only the layers below it, never one above (the
import-linter contracts in pyproject.toml, checked by `make lint`):

    cli | web      the command line and the web app: thin, over the same read side
    daemon         the scheduler service, its schedule, its leader lock, its status
    report         digests, events for people, review, notifications, page queries, exports
    watches        saved searches: definitions, search, runner, similarity, config seeding
    ingest         the freshness gate, one sync run, the history backfill
    registry|store the ClinicalTrials.gov client | snapshots, runs, locks, read-side queries
    config         settings from config.toml and the environment
    core           pure, no I/O: IDs, canonical record, text, criteria, diff, events, states

`models` (the tables and database access) sits beside `sync` and imports nothing of it;
`sync.cli` and `sync.web` reach the database only through the layers below them.
"""

__version__ = "0.1.0"
