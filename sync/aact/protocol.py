"""The one-row-per-study tables of the protocol: studies, brief_summaries,
detailed_descriptions, designs, eligibilities (AACT: app/models/study.rb, brief_summary.rb,
detailed_description.rb, design.rb, eligibility.rb). Pure."""

from __future__ import annotations

from typing import Any

from sync.aact.forms import Study, aact_date, boolean, integer
from sync.aact.table import Field, Table, field_at, field_fn, simple_table
from sync.core.util import dig

PS = "protocolSection"
STATUS = "protocolSection.statusModule"


def _phase(value: Any) -> str | None:
    if not isinstance(value, list):
        return None
    return "/".join(str(p) for p in value)


def _dated(name: str, struct: str, about: str) -> list[Field]:
    """A date struct as AACT has it: NAME_month_year (the string as sent), NAME_date_type
    (ACTUAL / ESTIMATED), NAME_date (a month-only date as the last day of its month)."""
    return [
        field_at(f"{name}_month_year", "VARCHAR", f"{STATUS}.{struct}.date",
                 f"{about}: the date as the registry wrote it (a month-only date stays so)."),
        field_at(f"{name}_date_type", "VARCHAR", f"{STATUS}.{struct}.type",
                 f"{about}: ACTUAL or ESTIMATED."),
        field_at(f"{name}_date", "DATE", f"{STATUS}.{struct}.date",
                 f"{about}: a month-only date is the last day of its month, a year 31 December.",
                 aact_date),
    ]  # fmt: skip


def _posted(name: str, struct: str, about: str) -> list[Field]:
    return [
        field_at(f"{name}_date", "DATE", f"{STATUS}.{struct}.date", about, aact_date),
        field_at(f"{name}_date_type", "VARCHAR", f"{STATUS}.{struct}.type",
                 f"{about}: ACTUAL or ESTIMATED."),
    ]  # fmt: skip


def _status(name: str, path: str, about: str, kind: str = "DATE") -> Field:
    return field_at(name, kind, f"{STATUS}.{path}", about, aact_date if kind == "DATE" else None)


def _interventional(study: Any) -> bool:
    kind = dig(study, "designModule", "studyType")
    return isinstance(kind, str) and "interventional" in kind.lower()


def _arm_count(study: Any) -> int | None:
    arms = dig(study, "armsInterventionsModule", "armGroups")
    return len(arms) if isinstance(arms, list) else None


def _ps(path: str, name: str, kind: str, about: str, convert: Any = None) -> Field:
    return field_at(name, kind, f"{PS}.{path}", about, convert)


_STUDY_FIELDS: list[Field] = [
    _status("study_first_submitted_date", "studyFirstSubmitDate",
            "The day the study was first submitted to the registry."),
    _status("study_first_submitted_qc_date", "studyFirstSubmitQcDate",
            "The day the first submission met the registry's quality control criteria."),
    *_posted("study_first_posted", "studyFirstPostDateStruct",
             "The day the study was first posted on ClinicalTrials.gov"),
    _status("results_first_submitted_date", "resultsFirstSubmitDate",
            "The day results were first submitted."),
    _status("results_first_submitted_qc_date", "resultsFirstSubmitQcDate",
            "The day the first results submission met quality control criteria."),
    *_posted("results_first_posted", "resultsFirstPostDateStruct",
             "The day results were first posted"),
    _status("disposition_first_submitted_date", "dispFirstSubmitDate",
            "The day a certification or extension request (disposition) was first submitted."),
    _status("disposition_first_submitted_qc_date", "dispFirstSubmitQcDate",
            "The day the first disposition met quality control criteria."),
    *_posted("disposition_first_posted", "dispFirstPostDateStruct",
             "The day the disposition was first posted"),
    _status("last_update_submitted_date", "lastUpdateSubmitDate",
            "The day the latest update was submitted."),
    _status("last_update_submitted_qc_date", "lastUpdateSubmitDate",
            "The day the latest update was submitted (AACT reads the same API field as "
            "last_update_submitted_date)."),
    *_posted("last_update_posted", "lastUpdatePostDateStruct",
             "The day the latest update was posted"),
    *_dated("start", "startDateStruct", "The study's start"),
    _status("verification_month_year", "statusVerifiedDate",
            "The month the sponsor last verified the record, as the registry wrote it.",
            "VARCHAR"),
    _status("verification_date", "statusVerifiedDate",
            "The month the record was last verified, as the last day of that month."),
    *_dated("completion", "completionDateStruct", "The study's completion"),
    *_dated("primary_completion", "primaryCompletionDateStruct",
            "The study's primary completion (last participant's primary outcome data)"),
    field_at("baseline_population", "VARCHAR", "resultsSection.baselineCharacteristicsModule."
             "populationDescription", "Who the baseline characteristics describe (results)."),
    _ps("identificationModule.briefTitle", "brief_title", "VARCHAR",
        "The title in plain language."),
    _ps("identificationModule.officialTitle", "official_title", "VARCHAR",
        "The official (scientific) title."),
    _ps("identificationModule.acronym", "acronym", "VARCHAR", "The study's acronym."),
    _ps("statusModule.overallStatus", "overall_status", "VARCHAR",
        "The recruitment status, the API v2 code (RECRUITING, COMPLETED, …)."),
    _ps("statusModule.lastKnownStatus", "last_known_status", "VARCHAR",
        "The status before the registry turned the study UNKNOWN."),
    _ps("statusModule.whyStopped", "why_stopped", "VARCHAR",
        "Why a study was suspended, terminated or withdrawn."),
    _ps("statusModule.delayedPosting", "delayed_posting", "VARCHAR",
        "Whether posting of a device study was delayed (API v2 value as sent)."),
    _ps("designModule.phases", "phase", "VARCHAR",
        "The phases, API v2 codes joined with '/' (PHASE1/PHASE2; NA when not applicable).",
        _phase),
    _ps("designModule.enrollmentInfo.count", "enrollment", "INTEGER",
        "The number of participants (anticipated or actual: see enrollment_type).", integer),
    _ps("designModule.enrollmentInfo.type", "enrollment_type", "VARCHAR",
        "ACTUAL or ESTIMATED enrollment."),
    _ps("identificationModule.organization.fullName", "source", "VARCHAR",
        "The organisation that registered the study."),
    _ps("identificationModule.organization.class", "source_class", "VARCHAR",
        "The class of that organisation (INDUSTRY, NIH, OTHER, …)."),
    field_at("limitations_and_caveats", "VARCHAR",
             "resultsSection.moreInfoModule.limitationsAndCaveats.description",
             "Limitations and caveats of the results."),
    field_fn("number_of_arms", "INTEGER",
             "The number of arms of an interventional study (NULL for other study types).",
             lambda s, _: _arm_count(s.get(PS)) if _interventional(s.get(PS)) else None,
             source="protocolSection.armsInterventionsModule.armGroups"),
    field_fn("number_of_groups", "INTEGER",
             "The number of groups (cohorts) of a non-interventional study.",
             lambda s, _: None if _interventional(s.get(PS)) else _arm_count(s.get(PS)),
             source="protocolSection.armsInterventionsModule.armGroups"),
    _ps("designModule.targetDuration", "target_duration", "VARCHAR",
        "The target follow-up duration of a patient registry."),
    _ps("designModule.studyType", "study_type", "VARCHAR",
        "INTERVENTIONAL, OBSERVATIONAL or EXPANDED_ACCESS (API v2 code)."),
    _ps("designModule.patientRegistry", "patient_registry", "BOOLEAN",
        "Whether the observational study is a patient registry.", boolean),
    _ps("statusModule.expandedAccessInfo.hasExpandedAccess", "has_expanded_access", "BOOLEAN",
        "Whether expanded access to the intervention is available.", boolean),
    _ps("statusModule.expandedAccessInfo.nctId", "expanded_access_nctid", "VARCHAR",
        "The NCT ID of the expanded access record."),
    _ps("statusModule.expandedAccessInfo.statusForNctId", "expanded_access_status_for_nctid",
        "VARCHAR", "The status of that expanded access record."),
    _ps("designModule.expandedAccessTypes.individual", "expanded_access_type_individual",
        "BOOLEAN", "Expanded access for individual patients.", boolean),
    _ps("designModule.expandedAccessTypes.intermediate", "expanded_access_type_intermediate",
        "BOOLEAN", "Expanded access for intermediate-size populations.", boolean),
    _ps("designModule.expandedAccessTypes.treatment", "expanded_access_type_treatment",
        "BOOLEAN", "Expanded access under a treatment IND or protocol.", boolean),
    _ps("oversightModule.oversightHasDmc", "has_dmc", "BOOLEAN",
        "Whether a data monitoring committee is appointed.", boolean),
    _ps("oversightModule.isFdaRegulatedDrug", "is_fda_regulated_drug", "BOOLEAN",
        "Whether the study tests an FDA-regulated drug.", boolean),
    _ps("oversightModule.isFdaRegulatedDevice", "is_fda_regulated_device", "BOOLEAN",
        "Whether the study tests an FDA-regulated device.", boolean),
    _ps("oversightModule.isUnapprovedDevice", "is_unapproved_device", "BOOLEAN",
        "Whether the device is not approved or cleared by the FDA.", boolean),
    _ps("oversightModule.isPpsd", "is_ppsd", "BOOLEAN",
        "Whether the device is a pediatric postmarket surveillance device.", boolean),
    _ps("oversightModule.isUsExport", "is_us_export", "BOOLEAN",
        "Whether the product is manufactured in and exported from the US.", boolean),
    _ps("oversightModule.fdaaa801Violation", "fdaaa801_violation", "BOOLEAN",
        "Whether the FDA found a violation of FDAAA 801 reporting.", boolean),
    _ps("designModule.bioSpec.retention", "biospec_retention", "VARCHAR",
        "Whether biospecimens are retained, and with DNA (API v2 code)."),
    _ps("designModule.bioSpec.description", "biospec_description", "VARCHAR",
        "The biospecimens retained."),
    _ps("ipdSharingStatementModule.ipdSharing", "plan_to_share_ipd", "VARCHAR",
        "Whether individual participant data will be shared (YES, NO, UNDECIDED)."),
    _ps("ipdSharingStatementModule.description", "plan_to_share_ipd_description", "VARCHAR",
        "The plan to share individual participant data."),
    _ps("ipdSharingStatementModule.timeFrame", "ipd_time_frame", "VARCHAR",
        "When the participant data will be available."),
    _ps("ipdSharingStatementModule.accessCriteria", "ipd_access_criteria", "VARCHAR",
        "Who may have the participant data, and how."),
    _ps("ipdSharingStatementModule.url", "ipd_url", "VARCHAR",
        "Where the participant data may be found."),
    field_at("baseline_type_units_analyzed", "VARCHAR",
             "resultsSection.baselineCharacteristicsModule.typeUnitsAnalyzed",
             "The units analysed in the baseline when not participants."),
]  # fmt: skip

STUDIES = simple_table(
    "studies",
    "One row per study: its identification, status, dates, design summary and oversight.",
    lambda study: [study],
    _STUDY_FIELDS,
    has_id=False,
)


def _description(study: Study) -> list[Any]:
    module = dig(study, PS, "descriptionModule")
    return [module] if isinstance(module, dict) else []


BRIEF_SUMMARIES = simple_table(
    "brief_summaries",
    "The brief summary of the study (one row when the record has a description module).",
    _description,
    [field_at("description", "VARCHAR", "briefSummary", "The brief summary, as written.",
              root="protocolSection.descriptionModule")],
)  # fmt: skip

DETAILED_DESCRIPTIONS = simple_table(
    "detailed_descriptions",
    "The detailed description (one row when the record has a description module, as AACT: "
    "its description is NULL when the record gives none).",
    _description,
    [field_at("description", "VARCHAR", "detailedDescription",
              "The detailed description, as written.",
              root="protocolSection.descriptionModule")],
)  # fmt: skip

DI = "protocolSection.designModule.designInfo"


def _masked(role: str) -> Any:
    def get(item: Any, _: int) -> bool | None:
        who = dig(item, "maskingInfo", "whoMasked")
        return role in who if isinstance(who, list) else None

    return get


DESIGNS = simple_table(
    "designs",
    "The study design (one row when the record has designInfo).",
    lambda s: [m] if isinstance(m := dig(s, PS, "designModule", "designInfo"), dict) else [],
    [
        field_at("allocation", "VARCHAR", "allocation",
                 "RANDOMIZED, NON_RANDOMIZED or NA.", root=DI),
        field_at("intervention_model", "VARCHAR", "interventionModel",
                 "PARALLEL, SINGLE_GROUP, CROSSOVER, …", root=DI),
        field_at("observational_model", "VARCHAR", "observationalModel",
                 "COHORT, CASE_CONTROL, … (observational studies).", root=DI),
        field_at("primary_purpose", "VARCHAR", "primaryPurpose",
                 "TREATMENT, PREVENTION, DIAGNOSTIC, …", root=DI),
        field_at("time_perspective", "VARCHAR", "timePerspective",
                 "PROSPECTIVE, RETROSPECTIVE, … (observational studies).", root=DI),
        field_at("masking", "VARCHAR", "maskingInfo.masking",
                 "NONE, SINGLE, DOUBLE, TRIPLE or QUADRUPLE.", root=DI),
        field_at("masking_description", "VARCHAR", "maskingInfo.maskingDescription",
                 "How the masking is done.", root=DI),
        field_at("intervention_model_description", "VARCHAR", "interventionModelDescription",
                 "The intervention model, described.", root=DI),
        field_fn("subject_masked", "BOOLEAN", "Participants are masked (PARTICIPANT).",
                 _masked("PARTICIPANT"), source=f"{DI}.maskingInfo.whoMasked"),
        field_fn("caregiver_masked", "BOOLEAN", "Care providers are masked (CARE_PROVIDER).",
                 _masked("CARE_PROVIDER"), source=f"{DI}.maskingInfo.whoMasked"),
        field_fn("investigator_masked", "BOOLEAN", "Investigators are masked (INVESTIGATOR).",
                 _masked("INVESTIGATOR"), source=f"{DI}.maskingInfo.whoMasked"),
        field_fn("outcomes_assessor_masked", "BOOLEAN",
                 "Outcome assessors are masked (OUTCOMES_ASSESSOR).",
                 _masked("OUTCOMES_ASSESSOR"), source=f"{DI}.maskingInfo.whoMasked"),
    ],
)  # fmt: skip

EM = "protocolSection.eligibilityModule"


def _age(value: Any) -> str:
    return value if isinstance(value, str) and value else "N/A"


def _std_age(code: str) -> Any:
    def get(item: Any, _: int) -> bool | None:
        ages = item.get("stdAges") if isinstance(item, dict) else None
        return code in ages if isinstance(ages, list) else None

    return get


ELIGIBILITIES = simple_table(
    "eligibilities",
    "Who may take part (one row when the record has an eligibility module).",
    lambda study: [m] if isinstance(m := dig(study, PS, "eligibilityModule"), dict) else [],
    [
        field_at("sampling_method", "VARCHAR", "samplingMethod",
                 "PROBABILITY_SAMPLE or NON_PROBABILITY_SAMPLE (observational studies).",
                 root=EM),
        field_at("gender", "VARCHAR", "sex", "ALL, FEMALE or MALE.", root=EM),
        field_at("minimum_age", "VARCHAR", "minimumAge",
                 "The minimum age as the registry wrote it ('18 Years'); 'N/A' when none "
                 "(its number and unit are in calculated_values).", _age, root=EM),
        field_at("maximum_age", "VARCHAR", "maximumAge",
                 "The maximum age as written; 'N/A' when none.", _age, root=EM),
        field_at("healthy_volunteers", "BOOLEAN", "healthyVolunteers",
                 "Whether healthy volunteers are accepted.", boolean, root=EM),
        field_at("population", "VARCHAR", "studyPopulation",
                 "The study population (observational studies).", root=EM),
        field_at("criteria", "VARCHAR", "eligibilityCriteria",
                 "The inclusion and exclusion criteria, as written.", root=EM),
        field_at("gender_description", "VARCHAR", "genderDescription",
                 "Eligibility by gender, described.", root=EM),
        field_at("gender_based", "BOOLEAN", "genderBased",
                 "Whether eligibility rests on gender identity.", boolean, root=EM),
        field_fn("adult", "BOOLEAN", "Adults (18-64) may take part (stdAges has ADULT).",
                 _std_age("ADULT"), source=f"{EM}.stdAges"),
        field_fn("child", "BOOLEAN", "Children (under 18) may take part (stdAges has CHILD).",
                 _std_age("CHILD"), source=f"{EM}.stdAges"),
        field_fn("older_adult", "BOOLEAN",
                 "Older adults (65+) may take part (stdAges has OLDER_ADULT).",
                 _std_age("OLDER_ADULT"), source=f"{EM}.stdAges"),
    ],
)  # fmt: skip

TABLES: list[Table] = [STUDIES, BRIEF_SUMMARIES, DETAILED_DESCRIPTIONS, DESIGNS, ELIGIBILITIES]
