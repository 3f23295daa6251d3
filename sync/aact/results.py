"""Results, the groups and what hangs on them directly: outcomes, result_groups,
participant_flows, milestones, drop_withdrawals, baseline_counts, baseline_measurements
(AACT: app/models/outcome.rb, result_group.rb, participant_flow.rb, milestone.rb,
drop_withdrawal.rb, baseline_count.rb, baseline_measurement.rb). Pure."""

from __future__ import annotations

from typing import Any

from sync.aact.forms import Study, aact_date, integer, number, objects, text
from sync.aact.table import Column, Row, Table, field_at, simple_table
from sync.core.util import dig

RS = "resultsSection"
OM = f"{RS}.outcomeMeasuresModule.outcomeMeasures"
PF = f"{RS}.participantFlowModule"
BC = f"{RS}.baselineCharacteristicsModule"
AE = f"{RS}.adverseEventsModule"
PARTICIPANTS = "Participants"  # AACT's default unit of a count


def outcome_measures(study: Study) -> list[dict[str, Any]]:
    return list(objects(study, RS, "outcomeMeasuresModule", "outcomeMeasures"))


def _first_of_month(value: Any) -> Any:
    """AACT's date_first_of_month (outcomes.anticipated_posting_date): YYYY-MM -> day 1."""
    if isinstance(value, str) and len(value.strip()) == 7:
        return aact_date(value.strip() + "-01")
    return aact_date(value)


OUTCOMES = simple_table(
    "outcomes",
    "The outcome measures reported in the results (one row per outcome measure).",
    outcome_measures,
    [
        field_at("outcome_type", "VARCHAR", "type",
                 "PRIMARY, SECONDARY, OTHER_PRE_SPECIFIED or POST_HOC (API v2 code).", root=OM),
        field_at("title", "VARCHAR", "title", "The outcome measure's title.", root=OM),
        field_at("description", "VARCHAR", "description", "The outcome measure, described.",
                 root=OM),
        field_at("time_frame", "VARCHAR", "timeFrame", "When it was measured.", root=OM),
        field_at("population", "VARCHAR", "populationDescription",
                 "The population analysed.", root=OM),
        field_at("anticipated_posting_date", "DATE", "anticipatedPostingDate",
                 "When results not yet posted are expected (a month as its first day, as AACT).",
                 _first_of_month, root=OM),
        field_at("anticipated_posting_month_year", "VARCHAR", "anticipatedPostingDate",
                 "That date as the registry wrote it.", root=OM),
        field_at("units", "VARCHAR", "unitOfMeasure", "The unit of measure.", root=OM),
        field_at("units_analyzed", "VARCHAR", "typeUnitsAnalyzed",
                 "The units analysed when not participants.", root=OM),
        field_at("dispersion_type", "VARCHAR", "dispersionType",
                 "The measure of dispersion or precision.", root=OM),
        field_at("param_type", "VARCHAR", "paramType",
                 "The type of value (MEAN, MEDIAN, COUNT_OF_PARTICIPANTS, …).", root=OM),
    ],
)  # fmt: skip

# result_type of each kind of group, and where its groups are.
_GROUP_LISTS = (
    ("Baseline", ("baselineCharacteristicsModule", "groups")),
    ("Participant Flow", ("participantFlowModule", "groups")),
    ("Reported Event", ("adverseEventsModule", "eventGroups")),
)

GroupKey = tuple[Any, str, int | None]  # (ctgov_group_code, result_type, outcome position)


def groups(study: Study) -> tuple[list[Row], dict[GroupKey, int]]:
    """result_groups' rows and the position of each by (code, result type, outcome): the
    baseline, flow and event groups once each, and each outcome's own groups."""
    rows: list[Row] = []
    where: dict[GroupKey, int] = {}
    for n, outcome in enumerate(outcome_measures(study)):
        for g in objects(outcome, "groups"):
            where.setdefault((g.get("id"), "Outcome", n), len(rows))
            rows.append((g.get("id"), "Outcome", text(g.get("title")),
                         text(g.get("description")), n))  # fmt: skip
    for kind, path in _GROUP_LISTS:
        for g in objects(study, RS, *path):
            row = (g.get("id"), kind, text(g.get("title")), text(g.get("description")), None)
            if row in rows:
                continue  # AACT keeps each group once (unique)
            where.setdefault((g.get("id"), kind, None), len(rows))
            rows.append(row)
    return rows, where


RESULT_GROUPS = Table(
    name="result_groups",
    about="The groups (arms) of the results: of the baseline, the participant flow, the "
    "adverse events, and of each outcome measure.",
    columns=[
        Column("ctgov_group_code", "VARCHAR", "The registry's group code (BG000, FG000, OG000, "
               "EG000, …).", f"{RS}.*.groups.id"),
        Column("result_type", "VARCHAR",
               "Baseline, Participant Flow, Reported Event or Outcome (AACT's own labels).",
               f"{RS}.*.groups"),
        Column("title", "VARCHAR", "The group's title.", f"{RS}.*.groups.title"),
        Column("description", "VARCHAR", "The group, described.", f"{RS}.*.groups.description"),
        Column("outcome_id", "BIGINT", "The outcomes row (id) of an Outcome group.",
               f"{OM}.groups"),
    ],
    rows=lambda study: groups(study)[0],
    refs={"outcome_id": "outcomes"},
)  # fmt: skip

PARTICIPANT_FLOWS = simple_table(
    "participant_flows",
    "The participant flow's summary (one row when the results have a participant flow).",
    lambda s: [m] if isinstance(m := dig(s, RS, "participantFlowModule"), dict) else [],
    [
        field_at("recruitment_details", "VARCHAR", "recruitmentDetails",
                 "Recruitment details.", root=PF),
        field_at("pre_assignment_details", "VARCHAR", "preAssignmentDetails",
                 "What happened between enrolment and assignment.", root=PF),
        field_at("units_analyzed", "VARCHAR", "typeUnitsAnalyzed",
                 "The units when not participants.", root=PF),
    ],
)  # fmt: skip

_GROUP_ID = "result_group_id"


def _group_column(kind: str, source: str) -> Column:
    return Column(_GROUP_ID, "BIGINT", f"The result_groups row (id) of the {kind} group.", source)


def _milestones(study: Study) -> list[Row]:
    _, where = groups(study)
    out: list[Row] = []
    for period in objects(study, RS, "participantFlowModule", "periods"):
        for milestone in objects(period, "milestones"):
            for a in objects(milestone, "achievements"):
                code = a.get("groupId")
                out.append((
                    where.get((code, "Participant Flow", None)), text(code),
                    text(milestone.get("type")), text(period.get("title")),
                    text(a.get("comment")), integer(a.get("numSubjects")),
                    text(milestone.get("comment")), text(a.get("numUnits")),
                ))  # fmt: skip
    return out


MILESTONES = Table(
    name="milestones",
    about="The participant flow's milestones (STARTED, COMPLETED, …) per period and group.",
    columns=[
        _group_column("Participant Flow", f"{PF}.periods.milestones.achievements.groupId"),
        Column("ctgov_group_code", "VARCHAR", "The group's code.",
               f"{PF}.periods.milestones.achievements.groupId"),
        Column("title", "VARCHAR", "The milestone (STARTED, COMPLETED, or the sponsor's).",
               f"{PF}.periods.milestones.type"),
        Column("period", "VARCHAR", "The period's title.", f"{PF}.periods.title"),
        Column("description", "VARCHAR", "A comment on this group's count.",
               f"{PF}.periods.milestones.achievements.comment"),
        Column("count", "INTEGER", "The number of participants.",
               f"{PF}.periods.milestones.achievements.numSubjects"),
        Column("milestone_description", "VARCHAR", "A comment on the milestone.",
               f"{PF}.periods.milestones.comment"),
        Column("count_units", "VARCHAR", "The number of units when not participants.",
               f"{PF}.periods.milestones.achievements.numUnits"),
    ],
    rows=_milestones,
    refs={_GROUP_ID: "result_groups"},
)  # fmt: skip


def _drop_withdrawals(study: Study) -> list[Row]:
    _, where = groups(study)
    out: list[Row] = []
    for period in objects(study, RS, "participantFlowModule", "periods"):
        for drop in objects(period, "dropWithdraws"):
            for r in objects(drop, "reasons"):
                code = r.get("groupId")
                out.append((
                    where.get((code, "Participant Flow", None)), text(code),
                    text(period.get("title")), text(drop.get("type")),
                    integer(r.get("numSubjects")), text(drop.get("comment")),
                    text(r.get("comment")), integer(r.get("numUnits")),
                ))  # fmt: skip
    return out


DROP_WITHDRAWALS = Table(
    name="drop_withdrawals",
    about="Why participants left, per period, reason and group.",
    columns=[
        _group_column("Participant Flow", f"{PF}.periods.dropWithdraws.reasons.groupId"),
        Column("ctgov_group_code", "VARCHAR", "The group's code.",
               f"{PF}.periods.dropWithdraws.reasons.groupId"),
        Column("period", "VARCHAR", "The period's title.", f"{PF}.periods.title"),
        Column("reason", "VARCHAR", "The reason (Adverse Event, Lost to Follow-up, …).",
               f"{PF}.periods.dropWithdraws.type"),
        Column("count", "INTEGER", "The number of participants.",
               f"{PF}.periods.dropWithdraws.reasons.numSubjects"),
        Column("drop_withdraw_comment", "VARCHAR", "A comment on the reason.",
               f"{PF}.periods.dropWithdraws.comment"),
        Column("reason_comment", "VARCHAR", "A comment on this group's count.",
               f"{PF}.periods.dropWithdraws.reasons.comment"),
        Column("count_units", "INTEGER", "The number of units when not participants.",
               f"{PF}.periods.dropWithdraws.reasons.numUnits"),
    ],
    rows=_drop_withdrawals,
    refs={_GROUP_ID: "result_groups"},
)  # fmt: skip


def _baseline_counts(study: Study) -> list[Row]:
    _, where = groups(study)
    return [
        (where.get((c.get("groupId"), "Baseline", None)), text(c.get("groupId")),
         text(denom.get("units")), "overall", integer(c.get("value")))
        for denom in objects(study, RS, "baselineCharacteristicsModule", "denoms")
        for c in objects(denom, "counts")
    ]  # fmt: skip


BASELINE_COUNTS = Table(
    name="baseline_counts",
    about="The number analysed at baseline per group (participants, or other units).",
    columns=[
        _group_column("Baseline", f"{BC}.denoms.counts.groupId"),
        Column("ctgov_group_code", "VARCHAR", "The group's code.", f"{BC}.denoms.counts.groupId"),
        Column("units", "VARCHAR", "What is counted (Participants, or other units).",
               f"{BC}.denoms.units"),
        Column("scope", "VARCHAR", "Always overall (AACT's constant).", f"{BC}.denoms"),
        Column("count", "INTEGER", "The count.", f"{BC}.denoms.counts.value"),
    ],
    rows=_baseline_counts,
    refs={_GROUP_ID: "result_groups"},
)  # fmt: skip


def _analyzed(study: Study, measure: dict[str, Any], klass: dict[str, Any], code: Any) -> Any:
    """AACT's number_analyzed: the count of the group in the class's denominators, else the
    measure's, in the measure's selected units; else the baseline's overall count."""
    units = measure.get("denomUnitsSelected") or PARTICIPANTS
    denoms = klass.get("denoms") or measure.get("denoms")
    if denoms is None:
        denoms = dig(study, RS, "baselineCharacteristicsModule", "denoms")
    for denom in denoms if isinstance(denoms, list) else []:
        if isinstance(denom, dict) and denom.get("units") == units:
            for count in objects(denom, "counts"):
                if count.get("groupId") == code:
                    return integer(count.get("value"))
    return None


def _baseline_measurements(study: Study) -> list[Row]:
    _, where = groups(study)
    out: list[Row] = []
    for measure in objects(study, RS, "baselineCharacteristicsModule", "measures"):
        pct = measure.get("calculatePct")
        for klass in objects(measure, "classes"):
            for category in objects(klass, "categories"):
                for m in objects(category, "measurements"):
                    code = m.get("groupId")
                    out.append((
                        where.get((code, "Baseline", None)), text(code),
                        text(klass.get("title")), text(category.get("title")),
                        text(measure.get("title")), text(measure.get("description")),
                        text(measure.get("unitOfMeasure")), text(measure.get("paramType")),
                        text(m.get("value")), number(m.get("value")),
                        text(measure.get("dispersionType")), text(m.get("spread")),
                        number(m.get("spread")), number(m.get("lowerLimit")),
                        number(m.get("upperLimit")), text(m.get("comment")),
                        _analyzed(study, measure, klass, code),
                        text(measure.get("denomUnitsSelected")) or PARTICIPANTS,
                        text(measure.get("populationDescription")),
                        None if pct is None else ("No" if pct is False else "Yes"),
                    ))  # fmt: skip
    return out


_BM = f"{BC}.measures"
BASELINE_MEASUREMENTS = Table(
    name="baseline_measurements",
    about="The baseline characteristics, one row per measure, class, category and group.",
    columns=[
        _group_column("Baseline", f"{_BM}.classes.categories.measurements.groupId"),
        Column("ctgov_group_code", "VARCHAR", "The group's code.",
               f"{_BM}.classes.categories.measurements.groupId"),
        Column("classification", "VARCHAR", "The class's title.", f"{_BM}.classes.title"),
        Column("category", "VARCHAR", "The category's title.",
               f"{_BM}.classes.categories.title"),
        Column("title", "VARCHAR", "The measure's title (Age, Sex, …).", f"{_BM}.title"),
        Column("description", "VARCHAR", "The measure, described.", f"{_BM}.description"),
        Column("units", "VARCHAR", "The unit of measure.", f"{_BM}.unitOfMeasure"),
        Column("param_type", "VARCHAR", "The type of value (API v2 code).", f"{_BM}.paramType"),
        Column("param_value", "VARCHAR", "The value as sent.",
               f"{_BM}.classes.categories.measurements.value"),
        Column("param_value_num", "DOUBLE", "The value as a number (NULL when not one).",
               f"{_BM}.classes.categories.measurements.value"),
        Column("dispersion_type", "VARCHAR", "The dispersion's type.", f"{_BM}.dispersionType"),
        Column("dispersion_value", "VARCHAR", "The dispersion as sent.",
               f"{_BM}.classes.categories.measurements.spread"),
        Column("dispersion_value_num", "DOUBLE", "The dispersion as a number.",
               f"{_BM}.classes.categories.measurements.spread"),
        Column("dispersion_lower_limit", "DOUBLE", "The lower limit.",
               f"{_BM}.classes.categories.measurements.lowerLimit"),
        Column("dispersion_upper_limit", "DOUBLE", "The upper limit.",
               f"{_BM}.classes.categories.measurements.upperLimit"),
        Column("explanation_of_na", "VARCHAR", "Why a value is missing.",
               f"{_BM}.classes.categories.measurements.comment"),
        Column("number_analyzed", "INTEGER",
               "The number analysed in this group (the class's or measure's denominator in the "
               "selected units, else the baseline count).", f"{_BM}.classes.denoms"),
        Column("number_analyzed_units", "VARCHAR", "Those units (Participants by default).",
               f"{_BM}.denomUnitsSelected"),
        Column("population_description", "VARCHAR", "The population of this measure.",
               f"{_BM}.populationDescription"),
        Column("calculate_percentage", "VARCHAR", "Yes or No: whether percentages are computed.",
               f"{_BM}.calculatePct"),
    ],
    rows=_baseline_measurements,
    refs={_GROUP_ID: "result_groups"},
)  # fmt: skip

TABLES: list[Table] = [
    OUTCOMES,
    RESULT_GROUPS,
    PARTICIPANT_FLOWS,
    MILESTONES,
    DROP_WITHDRAWALS,
    BASELINE_COUNTS,
    BASELINE_MEASUREMENTS,
]
