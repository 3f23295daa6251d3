"""Notifications: secrets masked everywhere, each digest delivered once per channel, failed
deliveries retried, `notify test` and the daemon's status lines."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from models import Change, Delivery, WatchEvent
from models.db import session_scope
from sync.config import Settings, split_urls
from sync.daemon import service as daemon
from sync.daemon import status as daemon_status
from sync.report import notify
from sync.report.channels import mask_apprise_logs, parse_channels
from tests.support.digest_seed import SUSPENDED, seed
from tests.support.receivers import (
    HOOK_SECRET,
    SMTP_SECRET,
    Smtp,
    Webhook,
)


def _settings(*urls: str, since: str = "1d") -> Settings:
    s = Settings()
    s.notify.urls = list(urls)
    s.notify.digest_since = since
    return s


def test_split_urls_keeps_commas_inside_urls() -> None:
    assert split_urls("json://a:b@h/x, mailto://u:p@h?to=a@x.org,b@y.org ,") == [
        "json://a:b@h/x",
        "mailto://u:p@h?to=a@x.org,b@y.org",
    ]


def test_env_urls_replace_config_urls(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sync.config import load_settings

    cfg = tmp_path / "config.toml"
    cfg.write_text('[notify]\nurls = ["json://127.0.0.1/from-file"]\n', encoding="utf-8")
    assert load_settings(cfg).notify.urls == ["json://127.0.0.1/from-file"]
    monkeypatch.setenv("TRIALWATCH_NOTIFY_URLS", "json://u:tok@127.0.0.1/a,json://127.0.0.1/b")
    assert load_settings(cfg).notify.urls == ["json://u:tok@127.0.0.1/a", "json://127.0.0.1/b"]


def test_channels_mask_secrets_in_labels_and_text() -> None:
    urls = [
        f"json://hook:{HOOK_SECRET}@127.0.0.1:9/digest",
        f"mailto://bot:{SMTP_SECRET}@127.0.0.1:25?smtp=127.0.0.1&from=tw@example.org"
        "&to=team@example.org",
        "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "nonsense://secretish-token-123@",
    ]
    chans, mask = parse_channels(urls)
    assert chans[0].label == "json://hook:****@127.0.0.1:9/digest"
    assert chans[1].label == "mailto://bot:****@127.0.0.1/team%40example.org"
    assert "JHMHI8qBe7bk2ZwO5U711o3dV_js" not in chans[2].label
    assert chans[3].label == "notification URL #4" and not chans[3].valid
    assert chans[3].problem.startswith("apprise knows no service nonsense://; fix it in")
    for c in chans:
        assert HOOK_SECRET not in c.key and SMTP_SECRET not in c.key
    text = (
        f"POST http://hook:{HOOK_SECRET}@127.0.0.1:9/digest failed; login {SMTP_SECRET}; "
        "webhook JHMHI8qBe7bk2ZwO5U711o3dV_js; token secretish-token-123"
    )
    masked = mask(text)
    for secret in (HOOK_SECRET, SMTP_SECRET, "JHMHI8qBe7bk2ZwO5U711o3dV_js", "secretish-token-123"):
        assert secret not in masked
    assert "127.0.0.1:9/digest" in masked  # what is not secret stays readable


def test_apprise_log_records_are_masked(caplog) -> None:  # type: ignore[no-untyped-def]
    _, mask = parse_channels([f"json://hook:{HOOK_SECRET}@127.0.0.1:9/digest"])
    mask_apprise_logs(mask, show=True)
    try:
        with caplog.at_level(logging.DEBUG, logger="apprise"):
            logging.getLogger("apprise").warning("login as hook:%s failed", HOOK_SECRET)
    finally:
        mask_apprise_logs(mask, show=False)
    assert "login as hook:**** failed" in caplog.text
    assert HOOK_SECRET not in caplog.text


def _deliveries(engine) -> list[Delivery]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return list(s.exec(select(Delivery).order_by(col(Delivery.id))))


def test_deliver_once_retry_failed_and_status(engine, fake_ctgov, client, webhook: Webhook,
                                              smtp: Smtp) -> None:  # type: ignore[no-untyped-def]
    seeded = seed(engine, fake_ctgov, client)
    all_changes = sorted(i for ids in seeded.change_ids.values() for i in ids)
    settings = _settings(webhook.url, smtp.url)
    webhook.fail_first = 1

    first = notify.deliver(engine, settings)
    assert [(o.status, o.retry) for o in first] == [("failed", False), ("sent", False)]
    assert first[0].changes == len(all_changes) and first[0].runs == 1  # the failed run too
    assert "error=500" in (first[0].error or "")
    rows = _deliveries(engine)
    assert [(d.status, d.attempts) for d in rows] == [("failed", 1), ("sent", 1)]
    assert rows[0].change_ids["changes"] == all_changes
    assert HOOK_SECRET not in (rows[0].last_error or "") + rows[0].channel
    # The e-mail holds the digest; the webhook has nothing yet.
    assert len(smtp.messages) == 1 and SUSPENDED.encode() in smtp.messages[0]
    assert webhook.received == []

    with session_scope(engine) as s:
        info = daemon.status_info(s)
    assert info.daemon.state == "never_started" and info.next_runs == {}
    [failed] = info.failed_deliveries
    assert failed.channel.startswith("json://hook:****@127.0.0.1:")
    assert (failed.attempts, failed.status) == (1, "failed")
    assert (failed.last_error or "").startswith("Failed to send JSON POST notification")
    lines = daemon_status.status_lines(info)
    assert lines[0] == "daemon: never started against this database"
    assert lines[1].startswith("failed deliveries: json://hook:****@127.0.0.1:")
    assert "1 attempt, failed: Failed to send JSON POST notification" in lines[1]
    assert HOOK_SECRET not in str(info) + str(lines)

    # Next run: the failed digest goes out as it was; the e-mail channel has nothing new.
    second = notify.deliver(engine, settings)
    assert [(o.status, o.retry) for o in second] == [("sent", True), ("nothing", False)]
    assert len(webhook.received) == 1 and len(smtp.messages) == 1
    body = webhook.received[0]["message"]
    assert SUSPENDED in body and "Warning: 1 of 4 runs did not complete cleanly" in body
    assert [(d.status, d.attempts) for d in _deliveries(engine)] == [("sent", 2), ("sent", 1)]
    with session_scope(engine) as s:
        info = daemon.status_info(s)
    assert info.failed_deliveries == []
    assert daemon_status.status_lines(info)[-1] == "failed deliveries: none"

    # Nothing is sent twice.
    third = notify.deliver(engine, settings)
    assert [o.status for o in third] == ["nothing", "nothing"]
    assert len(webhook.received) == 1 and len(smtp.messages) == 1 and len(_deliveries(engine)) == 2

    # A new change goes out alone, in a digest whose window starts where the last one ended.
    with session_scope(engine) as s:
        old = s.exec(select(Change).where(Change.id == all_changes[0])).one()
        s.add(Change(trial_id=old.trial_id, from_version=3, to_version=4, category="status",
                     path="protocolSection.statusModule.overallStatus", old="SUSPENDED",
                     new="RECRUITING", summary="status: SUSPENDED -> RECRUITING",
                     severity="medium"))  # fmt: skip
    fourth = notify.deliver(engine, settings)
    assert [(o.status, o.changes) for o in fourth] == [("sent", 1), ("sent", 1)]
    assert "recruitment reopened: SUSPENDED -> RECRUITING" in webhook.received[1]["message"]
    rows = _deliveries(engine)
    assert rows[2].window_since == rows[0].window_until


def test_new_channel_starts_at_digest_since(engine, fake_ctgov, client, webhook: Webhook) -> None:  # type: ignore[no-untyped-def]
    seed(engine, fake_ctgov, client, failed_run=False)
    with session_scope(engine) as s:
        for c in s.exec(select(Change)):
            c.detected_at = datetime.now(UTC) - timedelta(days=3)
            s.add(c)
        for e in s.exec(select(WatchEvent)):
            e.at = datetime.now(UTC) - timedelta(days=3)
            s.add(e)
    out = notify.deliver(engine, _settings(webhook.url, since="1d"))
    assert [o.status for o in out] == ["nothing"]  # three days ago is before this channel
    assert webhook.received == []
    other = Webhook().start()
    try:
        url = other.url.replace("/digest", "/weekly")
        out = notify.deliver(engine, _settings(url, since="7d"))
        assert [(o.status, o.changes > 0) for o in out] == [("sent", True)]
    finally:
        other.close()


def test_notify_test_command(cli, webhook: Webhook) -> None:  # type: ignore[no-untyped-def]
    r = cli("notify", "test")
    assert r.exit_code == 2 and "no notification URLs" in r.stderr
    cli.env["TRIALWATCH_NOTIFY_URLS"] = webhook.url
    r = cli("notify", "test", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json() == [{"channel": webhook.url.replace(HOOK_SECRET, "****"), "status": "sent",
                         "error": None}]  # fmt: skip
    assert webhook.received[0]["title"] == "trialwatch: test message"
    webhook.fail_first = 1
    r = cli("notify", "test")
    assert r.exit_code == 1
    assert "failed:" in r.stdout and "error=500" in r.stdout
    assert HOOK_SECRET not in r.stdout + r.stderr


@pytest.mark.parametrize("expr", ["0 7 * * *", "*/2 * * * * *"])
def test_cron_expressions(expr: str) -> None:
    from zoneinfo import ZoneInfo

    trigger = daemon.cron_trigger(expr, ZoneInfo("Europe/Paris"), "digest_cron")
    now = datetime(2026, 11, 22, 8, 0, 1, tzinfo=ZoneInfo("Europe/Paris"))
    nxt = trigger.get_next_fire_time(None, now)
    assert nxt > now and nxt - now <= timedelta(days=1)


def test_bad_schedule_is_a_config_error(cli) -> None:  # type: ignore[no-untyped-def]
    cli.write_config('[schedule]\ndigest_cron = "every morning"\n')
    r = cli("daemon")
    assert r.exit_code == 2
    assert "schedule.digest_cron" in r.stderr and "Traceback" not in r.stderr
    cli.write_config('[schedule]\ntimezone = "Mars/Olympus"\n')
    r = cli("daemon")
    assert r.exit_code == 2 and "unknown time zone 'Mars/Olympus'" in r.stderr
