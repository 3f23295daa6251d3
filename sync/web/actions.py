"""The writes, shared by the JSON API and the HTML forms: track, stop tracking, acknowledge."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from sync.core.ids import InvalidNCTId, normalise_many
from sync.ingest import run as sync_engine
from sync.report import review
from sync.web.context import web_of

# The IDs a body may carry: any case, normalised on the way in (the paths take NCT… only).
_ID: dict[str, JsonValue] = {"type": "string", "pattern": r"^[Nn][Cc][Tt]\d{8}$"}


class TrackRequest(BaseModel):
    # Strict: 0 is not false, "1" is not a change ID (the description says what is).
    model_config = ConfigDict(strict=True)

    nct_ids: list[str] = Field(min_length=1, max_length=1000, json_schema_extra={"items": _ID})


class AckRequest(BaseModel):
    """Either change_ids, or all: true (with trials to limit it), never both."""

    model_config = ConfigDict(
        strict=True,
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["change_ids"],
                    "properties": {
                        "change_ids": {"minItems": 1},
                        "all": {"const": False},
                        "trials": {"maxItems": 0},
                    },
                },
                {
                    "required": ["all"],
                    "properties": {"all": {"const": True}, "change_ids": {"maxItems": 0}},
                },
            ]
        },
    )

    change_ids: list[int] = Field(default_factory=list)
    all: bool = False
    trials: list[str] = Field(default_factory=list, json_schema_extra={"items": _ID})


def _ids(raw: list[str]) -> list[str]:
    try:
        return normalise_many(raw)
    except InvalidNCTId as exc:
        raise HTTPException(422, str(exc)) from None


def add_trials(request: Request, raw: list[str]) -> dict[str, Any]:
    ids = _ids(raw)
    with web_of(request).writing() as s:
        added, already = sync_engine.track(s, ids, source="manual")
    return {"added": added, "already_tracked": already}


def remove_trial(request: Request, nct: str) -> dict[str, Any]:
    with web_of(request).writing() as s:
        removed, unknown = sync_engine.untrack(s, [nct])
    if unknown and not removed:
        raise HTTPException(404, f"{nct} is not tracked")
    return {"removed": removed, "not_tracked": unknown}


def acknowledge(request: Request, body: AckRequest) -> dict[str, Any]:
    if body.all and body.change_ids:
        raise HTTPException(422, "give change_ids or all, not both")
    if not body.all and not body.change_ids:
        raise HTTPException(422, "give change_ids to acknowledge, or all: true")
    if body.trials and not body.all:
        raise HTTPException(422, "trials goes with all: true")
    ids = _ids(body.trials) if body.trials else []
    with web_of(request).writing() as s:
        result = review.acknowledge(s, body.change_ids, all_=body.all, trials=ids)
    return dict(result.__dict__)
