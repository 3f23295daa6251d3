"""The outcomes command: the pre-specified primary outcomes and every later change, timed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from sync.cli.common import JsonOpt, ctx_of, fail, found_nothing, out, parse_ids, print_json
from sync.store import outcomes as outcomes_view
from sync.store import views


def outcomes(
    typer_ctx: typer.Context,
    nct_id: Annotated[str, typer.Argument(help="The trial's NCT ID.")],
    json_: JsonOpt = False,
) -> None:
    """Show the pre-specified primary outcomes and every later outcome change, with its timing."""
    nct = parse_ids([nct_id])[0]
    c = ctx_of(typer_ctx)
    try:
        with c.session() as session:
            data = outcomes_view.outcomes(session, nct)
    except views.NothingFound as exc:
        found_nothing(exc, json_)
    except views.UnknownTrial as exc:
        fail(str(exc))
    if json_:
        print_json(data)
        return
    pre = data["pre_specified"]
    if pre is None:
        out.print(f"pre-specified primary outcomes: {escape(data['note'])}", highlight=False)
    else:
        out.print(
            f"pre-specified primary outcomes (v{pre['version']}, {pre['date'] or 'undated'}, "
            f"before the start {pre['start']}):",
            highlight=False,
        )
        for item in pre["primary_outcomes"]:
            frame = f"  [{item['timeFrame']}]" if item.get("timeFrame") else ""
            out.print(f"  - {escape(item['measure'])}{escape(frame)}", highlight=False)
    if not data["changes"]:
        out.print("no outcome changes since", highlight=False)
    for ch in data["changes"]:
        mark = "outcome switch: " if ch["switch"] else ""
        out.print(
            f"v{ch['version']}  {ch['date'] or ''}  {ch['timing']}  {ch['importance']:<6} "
            f"{ch['list']} {ch['severity']}: {mark}{escape(ch['text'])}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.command()(outcomes)
