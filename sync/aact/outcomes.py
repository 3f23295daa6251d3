"""Results by outcome and the adverse events: outcome_measurements, outcome_counts,
outcome_analyses, outcome_analysis_groups, reported_events, reported_event_totals (AACT:
app/models/outcome.rb children, reported_event.rb, reported_event_total.rb). Pure."""

from __future__ import annotations

import re
from typing import Any

from sync.aact.forms import Study, integer, number, objects, text
from sync.aact.results import AE, OM, RS, groups, outcome_measures
from sync.aact.table import Column, Row, Table

_OUTCOME_ID = Column("outcome_id", "BIGINT", "The outcomes row (id) it belongs to.", OM)


def _outcome_group(kind: str = "Outcome") -> Column:
    return Column("result_group_id", "BIGINT",
                  f"The result_groups row (id) of the group ({kind} group of the same outcome).",
                  f"{OM}.groups")  # fmt: skip


def _measurements(study: Study) -> list[Row]:
    _, where = groups(study)
    out: list[Row] = []
    for n, o in enumerate(outcome_measures(study)):
        for klass in objects(o, "classes"):
            for category in objects(klass, "categories"):
                for m in objects(category, "measurements"):
                    code = m.get("groupId")
                    out.append((
                        n, where.get((code, "Outcome", n)), text(code),
                        text(klass.get("title")), text(category.get("title")),
                        text(o.get("title")), text(o.get("description")),
                        text(o.get("unitOfMeasure")), text(o.get("paramType")),
                        text(o.get("dispersionType")),
                        text(m.get("value")), number(m.get("value")),
                        text(m.get("spread")), number(m.get("spread")),
                        text(m.get("lowerLimit")), number(m.get("lowerLimit")),
                        text(m.get("upperLimit")), number(m.get("upperLimit")),
                        text(m.get("comment")),
                    ))  # fmt: skip
    return out


_M = f"{OM}.classes.categories.measurements"
OUTCOME_MEASUREMENTS = Table(
    name="outcome_measurements",
    about="The results of each outcome measure, one row per class, category and group.",
    columns=[
        _OUTCOME_ID,
        _outcome_group(),
        Column("ctgov_group_code", "VARCHAR", "The group's code (OG000, …).", f"{_M}.groupId"),
        Column("classification", "VARCHAR", "The class's title.", f"{OM}.classes.title"),
        Column("category", "VARCHAR", "The category's title.", f"{OM}.classes.categories.title"),
        Column("title", "VARCHAR", "The outcome measure's title (as in outcomes).", f"{OM}.title"),
        Column("description", "VARCHAR", "The outcome measure, described.", f"{OM}.description"),
        Column("units", "VARCHAR", "The unit of measure.", f"{OM}.unitOfMeasure"),
        Column("param_type", "VARCHAR", "The type of value.", f"{OM}.paramType"),
        Column("dispersion_type", "VARCHAR", "The dispersion's type.", f"{OM}.dispersionType"),
        Column("param_value", "VARCHAR", "The value as sent.", f"{_M}.value"),
        Column("param_value_num", "DOUBLE", "The value as a number (NULL when not one).",
               f"{_M}.value"),
        Column("dispersion_value", "VARCHAR", "The dispersion as sent.", f"{_M}.spread"),
        Column("dispersion_value_num", "DOUBLE", "The dispersion as a number.", f"{_M}.spread"),
        Column("dispersion_lower_limit_raw", "VARCHAR", "The lower limit as sent.",
               f"{_M}.lowerLimit"),
        Column("dispersion_lower_limit", "DOUBLE", "The lower limit as a number.",
               f"{_M}.lowerLimit"),
        Column("dispersion_upper_limit_raw", "VARCHAR", "The upper limit as sent.",
               f"{_M}.upperLimit"),
        Column("dispersion_upper_limit", "DOUBLE", "The upper limit as a number.",
               f"{_M}.upperLimit"),
        Column("explanation_of_na", "VARCHAR", "Why a value is missing.", f"{_M}.comment"),
    ],
    rows=_measurements,
    refs={"outcome_id": "outcomes", "result_group_id": "result_groups"},
)  # fmt: skip


def _counts(study: Study) -> list[Row]:
    _, where = groups(study)
    return [
        (n, where.get((c.get("groupId"), "Outcome", n)), text(c.get("groupId")), "Measure",
         text(denom.get("units")), integer(c.get("value")))
        for n, o in enumerate(outcome_measures(study))
        for denom in objects(o, "denoms")
        for c in objects(denom, "counts")
    ]  # fmt: skip


OUTCOME_COUNTS = Table(
    name="outcome_counts",
    about="The number analysed per outcome measure and group.",
    columns=[
        _OUTCOME_ID,
        _outcome_group(),
        Column("ctgov_group_code", "VARCHAR", "The group's code.", f"{OM}.denoms.counts.groupId"),
        Column("scope", "VARCHAR", "Always Measure (AACT's constant).", f"{OM}.denoms"),
        Column("units", "VARCHAR", "What is counted.", f"{OM}.denoms.units"),
        Column("count", "INTEGER", "The count.", f"{OM}.denoms.counts.value"),
    ],
    rows=_counts,
    refs={"outcome_id": "outcomes", "result_group_id": "result_groups"},
)  # fmt: skip


def _analyses(study: Study) -> list[tuple[int, dict[str, Any]]]:
    return [(n, a) for n, o in enumerate(outcome_measures(study)) for a in objects(o, "analyses")]


def _p_modifier(value: Any) -> str | None:
    sign = re.sub(r"[\d.-]", "", value).strip() if isinstance(value, str) else ""
    return sign or None


def _p_value(value: Any) -> float | None:
    return number(re.sub(r"[<> =]", "", value).strip()) if isinstance(value, str) else None


def _analysis_rows(study: Study) -> list[Row]:
    return [
        (n, text(a.get("nonInferiorityType")), text(a.get("nonInferiorityComment")),
         text(a.get("paramType")), number(a.get("paramValue")), text(a.get("dispersionType")),
         number(a.get("dispersionValue")), _p_modifier(a.get("pValue")), _p_value(a.get("pValue")),
         text(a.get("pValue")), text(a.get("pValueComment")), text(a.get("ciNumSides")),
         number(a.get("ciPctValue")), number(a.get("ciLowerLimit")), number(a.get("ciUpperLimit")),
         text(a.get("ciLowerLimit")), text(a.get("ciUpperLimit")),
         text(a.get("ciUpperLimitComment")), text(a.get("statisticalMethod")),
         text(a.get("statisticalComment")), text(a.get("estimateComment")),
         text(a.get("groupDescription")), text(a.get("otherAnalysisDescription")))
        for n, a in _analyses(study)
    ]  # fmt: skip


_A = f"{OM}.analyses"
OUTCOME_ANALYSES = Table(
    name="outcome_analyses",
    about="The statistical analyses of the outcome measures.",
    columns=[
        _OUTCOME_ID,
        Column("non_inferiority_type", "VARCHAR", "SUPERIORITY, NON_INFERIORITY, … (API v2 code).",
               f"{_A}.nonInferiorityType"),
        Column("non_inferiority_description", "VARCHAR", "A comment on it.",
               f"{_A}.nonInferiorityComment"),
        Column("param_type", "VARCHAR", "The estimated parameter's type.", f"{_A}.paramType"),
        Column("param_value", "DOUBLE", "The estimate.", f"{_A}.paramValue"),
        Column("dispersion_type", "VARCHAR", "The dispersion's type.", f"{_A}.dispersionType"),
        Column("dispersion_value", "DOUBLE", "The dispersion.", f"{_A}.dispersionValue"),
        Column("p_value_modifier", "VARCHAR", "The p-value's comparison sign ('<', '<=', …).",
               f"{_A}.pValue", aact="NULL for a plain p-value (AACT's is an empty string)"),
        Column("p_value", "DOUBLE", "The p-value as a number (its sign removed).",
               f"{_A}.pValue"),
        Column("p_value_raw", "VARCHAR", "The p-value as sent.", f"{_A}.pValue"),
        Column("p_value_description", "VARCHAR", "A comment on the p-value.",
               f"{_A}.pValueComment"),
        Column("ci_n_sides", "VARCHAR", "ONE_SIDED or TWO_SIDED.", f"{_A}.ciNumSides"),
        Column("ci_percent", "DOUBLE", "The confidence level in per cent.", f"{_A}.ciPctValue"),
        Column("ci_lower_limit", "DOUBLE", "The interval's lower limit.", f"{_A}.ciLowerLimit"),
        Column("ci_upper_limit", "DOUBLE", "The interval's upper limit.", f"{_A}.ciUpperLimit"),
        Column("ci_lower_limit_raw", "VARCHAR", "The lower limit as sent.", f"{_A}.ciLowerLimit"),
        Column("ci_upper_limit_raw", "VARCHAR", "The upper limit as sent.", f"{_A}.ciUpperLimit"),
        Column("ci_upper_limit_na_comment", "VARCHAR", "Why the upper limit is missing.",
               f"{_A}.ciUpperLimitComment"),
        Column("method", "VARCHAR", "The statistical method.", f"{_A}.statisticalMethod"),
        Column("method_description", "VARCHAR", "A comment on the method.",
               f"{_A}.statisticalComment"),
        Column("estimate_description", "VARCHAR", "A comment on the estimate.",
               f"{_A}.estimateComment"),
        Column("groups_description", "VARCHAR", "The groups compared, described.",
               f"{_A}.groupDescription"),
        Column("other_analysis_description", "VARCHAR", "Another analysis, described.",
               f"{_A}.otherAnalysisDescription"),
    ],
    rows=_analysis_rows,
    refs={"outcome_id": "outcomes"},
)  # fmt: skip


def _analysis_groups(study: Study) -> list[Row]:
    _, where = groups(study)
    return [
        (i, where.get((code, "Outcome", n)), text(code))
        for i, (n, a) in enumerate(_analyses(study))
        for code in (a.get("groupIds") or [])
    ]


OUTCOME_ANALYSIS_GROUPS = Table(
    name="outcome_analysis_groups",
    about="The groups each analysis compares.",
    columns=[
        Column("outcome_analysis_id", "BIGINT", "The outcome_analyses row (id).", _A),
        _outcome_group(),
        Column("ctgov_group_code", "VARCHAR", "The group's code.", f"{_A}.groupIds"),
    ],
    rows=_analysis_groups,
    refs={"outcome_analysis_id": "outcome_analyses", "result_group_id": "result_groups"},
)


def _events(study: Study) -> list[Row]:
    _, where = groups(study)
    module = (study.get(RS) or {}).get("adverseEventsModule") or {}
    out: list[Row] = []
    for kind, key in (("serious", "seriousEvents"), ("other", "otherEvents")):
        for event in objects(module, key):
            for s in objects(event, "stats"):
                code = s.get("groupId")
                out.append((
                    where.get((code, "Reported Event", None)), text(code),
                    text(module.get("timeFrame")), kind, None, None,
                    integer(s.get("numAffected")), integer(s.get("numAtRisk")),
                    text(module.get("description")), integer(s.get("numEvents")),
                    text(event.get("organSystem")), text(event.get("term")),
                    integer(module.get("frequencyThreshold")),
                    text(event.get("sourceVocabulary")), text(event.get("assessmentType")),
                ))  # fmt: skip
    return out


_E = f"{AE}.seriousEvents / otherEvents"
REPORTED_EVENTS = Table(
    name="reported_events",
    about="The adverse events, one row per event term and group (serious, then other).",
    columns=[
        Column("result_group_id", "BIGINT", "The result_groups row (id) of the event group.",
               f"{_E}.stats.groupId"),
        Column("ctgov_group_code", "VARCHAR", "The group's code (EG000, …).",
               f"{_E}.stats.groupId"),
        Column("time_frame", "VARCHAR", "Over what time the events were collected.",
               f"{AE}.timeFrame"),
        Column("event_type", "VARCHAR", "serious or other (AACT's constants).", _E),
        Column("default_vocab", "VARCHAR", "Always NULL (AACT keeps the column; API v2 gives "
               "each event its vocabulary, in vocab).", aact="AACT too leaves it NULL"),
        Column("default_assessment", "VARCHAR", "Always NULL (each event's is in assessment).",
               aact="AACT too leaves it NULL"),
        Column("subjects_affected", "INTEGER", "Participants affected.", f"{_E}.stats.numAffected"),
        Column("subjects_at_risk", "INTEGER", "Participants at risk.", f"{_E}.stats.numAtRisk"),
        Column("description", "VARCHAR", "The adverse events' description.",
               f"{AE}.description"),
        Column("event_count", "INTEGER", "The number of events.", f"{_E}.stats.numEvents"),
        Column("organ_system", "VARCHAR", "The organ system.", f"{_E}.organSystem"),
        Column("adverse_event_term", "VARCHAR", "The event's term.", f"{_E}.term"),
        Column("frequency_threshold", "INTEGER",
               "The frequency (per cent) above which other events are reported.",
               f"{AE}.frequencyThreshold"),
        Column("vocab", "VARCHAR", "The event's vocabulary (MedDRA, …).",
               f"{_E}.sourceVocabulary"),
        Column("assessment", "VARCHAR", "SYSTEMATIC_ASSESSMENT or NON_SYSTEMATIC_ASSESSMENT.",
               f"{_E}.assessmentType"),
    ],
    rows=_events,
    refs={"result_group_id": "result_groups"},
)  # fmt: skip

_TOTALS = (
    ("serious", "Total, serious adverse events", "serious"),
    ("other", "Total, other adverse events", "other"),
    ("deaths", "Total, all-cause mortality", "deaths"),
)


def _totals(study: Study) -> list[Row]:
    return [
        (text(g.get("id")), kind, label, integer(g.get(f"{key}NumAffected")),
         integer(g.get(f"{key}NumAtRisk")))
        for kind, label, key in _TOTALS
        for g in objects(study, RS, "adverseEventsModule", "eventGroups")
    ]  # fmt: skip


_G = f"{AE}.eventGroups"
REPORTED_EVENT_TOTALS = Table(
    name="reported_event_totals",
    about="The totals of each event group: serious, other, and all-cause deaths.",
    columns=[
        Column("ctgov_group_code", "VARCHAR", "The event group's code.", f"{_G}.id"),
        Column("event_type", "VARCHAR", "serious, other or deaths.", _G),
        Column("classification", "VARCHAR", "Total, serious adverse events / Total, other "
               "adverse events / Total, all-cause mortality.", _G),
        Column("subjects_affected", "INTEGER", "Participants affected.",
               f"{_G}.seriousNumAffected / otherNumAffected / deathsNumAffected"),
        Column("subjects_at_risk", "INTEGER", "Participants at risk.",
               f"{_G}.seriousNumAtRisk / otherNumAtRisk / deathsNumAtRisk",
               aact="AACT's created_at and updated_at are left out"),
    ],
    rows=_totals,
)  # fmt: skip

TABLES: list[Table] = [
    OUTCOME_MEASUREMENTS,
    OUTCOME_COUNTS,
    OUTCOME_ANALYSES,
    OUTCOME_ANALYSIS_GROUPS,
    REPORTED_EVENTS,
    REPORTED_EVENT_TOTALS,
]
