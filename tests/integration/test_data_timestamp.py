"""A registry whose dataTimestamp goes back (a stale mirror or cache answering): the run says
so as a warning, in its record and in `status`, and stores nothing from that answer."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from models import Snapshot
from models.db import session_scope
from sync.ingest.freshness import META_DATA_TIMESTAMP
from sync.store import snapshots as store
from sync.testing.factory import make_study, nct, with_last_update, with_status
from sync.testing.fakectgov import FakeRegistry
from tests.support.fixtures import Cli

NEWER, OLDER, LATER = "2026-12-01T09:00:00", "2026-11-20T09:00:00", "2026-12-02T09:00:00"


def _versions(engine: sa.Engine) -> int:
    with session_scope(engine) as session:
        return len(session.exec(select(Snapshot)).all())


def test_a_data_timestamp_that_goes_back_is_a_warning_and_stores_nothing(
    cli: Cli, engine: sa.Engine, fake_ctgov: FakeRegistry
) -> None:
    fake_ctgov.put(make_study(nct(1)))
    fake_ctgov.data_timestamp = NEWER
    assert cli("add", nct(1)).exit_code == 0
    assert cli("sync").exit_code == 0
    assert _versions(engine) == 1

    # The older release holds another record: storing it would be a version from the past.
    fake_ctgov.put(with_last_update(with_status(make_study(nct(1)), "COMPLETED"), "2099-01-01"))
    fake_ctgov.data_timestamp = OLDER
    done = cli("sync")
    assert done.exit_code == 0, done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert f"warning: registry dataTimestamp went back: {OLDER} is older than {NEWER}" in said
    assert _versions(engine) == 1
    with session_scope(engine) as session:
        assert store.get_meta(session, META_DATA_TIMESTAMP) == NEWER

    runs = cli("status", "--json").json()["runs"]
    assert runs[0]["outcome"] == "ok" and runs[0]["mode"] == "skipped", runs[0]
    assert runs[0]["new_versions"] == 0 and runs[0]["requests"] == 1, runs[0]
    assert runs[0]["warnings"] == [
        f"registry dataTimestamp went back: {OLDER} is older than {NEWER}, the last seen; "
        "nothing fetched or stored from this answer (an older release would store older "
        "records as new versions)"
    ]
    assert runs[1]["warnings"] == []
    text = " ".join(cli("status").stdout.split())
    assert f"warning: registry dataTimestamp went back: {OLDER}" in text, text

    # A newer release again: the sync goes on from the marks the clean run left.
    fake_ctgov.data_timestamp = LATER
    assert cli("sync").exit_code == 0
    assert _versions(engine) == 2
    with session_scope(engine) as session:
        assert store.get_meta(session, META_DATA_TIMESTAMP) == LATER


def test_a_mirror_watch_run_on_an_older_release_is_a_warning_and_stores_nothing(
    cli: Cli, engine: sa.Engine, fake_ctgov: FakeRegistry
) -> None:
    """`watch run` of a mirror outside a sync checks the release as a sync does."""
    for i in (1, 2):
        fake_ctgov.put(make_study(nct(i)))
    fake_ctgov.data_timestamp = NEWER
    assert cli("watch", "add", "everything", "--mirror").exit_code == 0
    first = cli("sync")  # the mirror's first load rides the sync; the release is recorded
    assert first.exit_code == 0, first.stderr
    assert _versions(engine) == 2

    fake_ctgov.put(with_last_update(with_status(make_study(nct(1)), "COMPLETED"), "2099-01-01"))
    fake_ctgov.data_timestamp = OLDER
    ran = cli("watch", "run", "everything", "--json")
    assert ran.exit_code == 0, ran.stderr
    answer = ran.json()
    assert answer["watches"] == [] and answer["outcome"] == "ok", answer
    assert answer["warnings"][0].startswith(
        f"registry dataTimestamp went back: {OLDER} is older than {NEWER}"
    ), answer
    assert _versions(engine) == 2
    runs = cli("status", "--json").json()["runs"]
    assert runs[0]["kind"] == "watch" and runs[0]["mode"] == "skipped", runs[0]
    assert runs[0]["warnings"] == answer["warnings"] and runs[0]["requests"] == 1, runs[0]
    text = " ".join(cli("watch", "run", "everything").stderr.split())
    assert f"warning: registry dataTimestamp went back: {OLDER}" in text, text

    fake_ctgov.data_timestamp = LATER
    again = cli("watch", "run", "everything", "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["warnings"] == [] and _versions(engine) == 3
