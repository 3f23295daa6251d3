"""A run's errors: one entry per distinct error with its count; the cause a run's line shows."""

from __future__ import annotations

from sync.core.errors import cause, counted


def test_one_entry_per_distinct_error_in_the_order_first_met() -> None:
    assert counted(["a", "b", "a", "a", "c"]) == ["a (3 times)", "b", "c"]


def test_entries_already_counted_add_their_count() -> None:
    assert counted(["a (3 times)", "a", "b (2 times)"]) == ["a (4 times)", "b (2 times)"]


def test_the_cause_is_a_database_error_wherever_it_is() -> None:
    errors = ["NCT1: unusable record", "watch w: database error: database or disk is full"]
    assert cause(errors, "partial") == errors[1]


def test_a_failed_run_shows_what_it_ended_on_a_partial_run_its_first_error() -> None:
    errors = ["NCT1: unusable record", "interrupted: stopped by SIGTERM"]
    assert cause(errors, "failed") == errors[1]
    assert cause(errors, "partial") == errors[0]
    assert cause([], "failed") is None
