"""The progress line of a long run in a log or a pipe: bounded, with the time left."""

from __future__ import annotations

from sync.core.progress import ProgressLine, duration, eta


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_durations_read_as_people_say_them() -> None:
    assert duration(7_830) == "2h 10m"
    assert duration(7_200) == "2h"
    assert duration(320) == "5m 20s"
    assert duration(60) == "1m"
    assert duration(40.9) == "40s"
    assert duration(-3) == "0s"
    assert eta(0, 10, 5.0) is None
    assert eta(1_200, 10_000, 1_200.0) == "2h 26m"


def test_one_line_an_interval_whatever_the_number_of_calls() -> None:
    clock, lines = Clock(), []
    requests = iter(range(1, 100_000))
    line = ProgressLine(
        "sync", "IDs asked", lines.append, interval=60, requests=lambda: next(requests),
        clock=clock,
    )  # fmt: skip
    for done in range(1, 10_001):
        clock.now += 1.0  # one ID a second
        line(done, 10_000)
    # 10,000 s of calls: one line a minute, none at the end (the run's summary says it).
    assert len(lines) == 10_000 // 60 == line.lines
    assert lines[0] == "sync: 60 of 10,000 IDs asked, 1 request, ETA 2h 45m"
    assert lines[19] == "sync: 1,200 of 10,000 IDs asked, 20 requests, ETA 2h 26m"


def test_a_run_with_nothing_done_yet_still_says_it_is_alive() -> None:
    clock, lines = Clock(), []
    line = ProgressLine("backfill", "", lines.append, interval=10, clock=clock)
    clock.now += 9
    line(0, 50)
    assert lines == []
    clock.now += 2
    line(0, 50)
    assert lines == ["backfill: 0 of 50, ETA not known yet"]
