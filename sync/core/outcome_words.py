"""The wording of outcomes, normalised so that two texts can be compared by meaning: words
(case, accents, punctuation, inflection, number words, spelling), what is measured, the metric,
the time points a time frame names, and the abbreviations a text uses or spells out."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# The verbs that link who is counted to what they show ("participants who have HIV-1 RNA < 50
# copies/mL", "who achieved PASI-75", "who experienced an adverse event"): the outcome is the
# state or event, which "with" says as well.
_LINKING = "have has had having achieve achieves achieved achieving experienced experiencing"
# Words that carry no meaning of their own in a measure ("the primary endpoint will be ...").
_FILLER = frozenset(
    "a an the of in and or to with for by at on from as be will is are was were this that which "
    "who whose their its it study primary secondary outcome outcomes endpoint endpoints end point "
    "measure measured measures assessed assess assessment evaluate evaluated evaluation determine "
    "determined defined objective aim demonstrate compare compared subjects participants patients "
    "subject participant patient each all any based using via according individual individuals "
    "people person persons volunteer volunteers".split()
) | frozenset(
    # The frame of an objective ("To investigate whether the efficacy of X versus placebo ..."),
    # which the results' outcome title drops: the verbs of an aim, and the comparison between
    # the arms, which every outcome of the trial shares and none of them measures.
    "investigate investigated examine examined explore explored establish confirm estimate "
    "estimated describe whether show efficacy effect effects effectiveness versus vs placebo "
    "comparison comparing".split()
) | frozenset(
    # What a value is reported as, not what is measured: the head of "IPSS score", "ferritin
    # level", and the units results add to a title ("Systolic Blood Pressure (mmHg)").
    "score scores level levels value values mg dl ml kg mmhg cm mm iu mmol umol ng pg copies "
    "ul".split()
)
_STOP = _FILLER | frozenset(_LINKING.split())
# The metric of an outcome (how values are aggregated), in classes: "proportion" and "percentage"
# of participants are one metric, "mean" and "median" are two.
_METRIC = {
    "percentage": "share", "percent": "share", "proportion": "share", "proportions": "share",
    "rate": "share", "rates": "share", "number": "share", "count": "share",
    "incidence": "share", "frequency": "share", "mean": "mean",
    "average": "mean", "median": "median", "time": "time to event", "duration": "time to event",
    "change": "change", "reduction": "change", "improvement": "change", "difference": "difference",
    "hazard": "hazard ratio", "odds": "odds ratio", "annualized": "annualised rate",
    "annualised": "annualised rate", "cumulative": "cumulative", "auc": "area under the curve",
    "maximum": "maximum", "peak": "maximum", "minimum": "minimum",
}  # fmt: skip
_NUMBERS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13",
    "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18",
    "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
    "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
}  # fmt: skip
# A number glued to its unit ("12mo", "24h", "wk12"): split, so that the unit is a word.
_GLUED_RE = re.compile(
    r"^(?:(\d+(?:\.\d+)?)(h|hr|hrs|d|wk|wks|mo|mos|yr|yrs|min|mins|weeks?|days?|months?|years?)"
    r"|(wk|week|day|month|visit|d|w|m)(\d+))$"
)
_UNITS = {
    "minute": "min", "minutes": "min", "min": "min", "mins": "min", "hour": "h", "hours": "h",
    "hr": "h", "hrs": "h", "h": "h", "day": "d", "days": "d", "week": "w", "weeks": "w",
    "wk": "w", "wks": "w", "month": "m", "months": "m", "mo": "m", "year": "y", "years": "y",
    "yr": "y", "yrs": "y", "cycle": "cycle", "cycles": "cycle", "visit": "visit",
}  # fmt: skip
_TIME_WORDS = frozenset(_UNITS) | frozenset(
    "baseline up through until after before within following post over during end".split()
)

_TENS = frozenset({"20", "30", "40", "50", "60", "70", "80", "90"})


# A name and its number written together or apart are one ("FEV1" and "FEV 1", "IL6" and "IL-6",
# "PASI75" and "PASI-75"): biomedical names hyphenate or space their number as they please.
_CODE_RE = re.compile(r"^([a-z]{2,})(\d+)$")
# Roman numerals where a numbered class is named ("grade III", "stage IV", "phase II").
_NUMBERED = frozenset("grade grades stage stages phase phases type types class part cycle".split())
_ROMAN = {
    "i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8",
}  # fmt: skip


_WORD_RE = re.compile(r"\d+\.\d+(?![^\W\d_])|[^\W_]+")


def norm(text: Any) -> str:
    """Lower case, accents, punctuation and spacing dropped; number words as digits, a number
    glued to its unit or to a name split from it, roman numerals of a grade or stage as digits."""
    if not isinstance(text, str):
        return ""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).casefold()
    # A decimal is one number ("3.1 years"), other punctuation a space.
    words = _WORD_RE.findall(t)
    out: list[str] = []
    tens = False  # the last word was a tens word ("twenty")
    roman = False  # a roman numeral here numbers a grade or stage
    for w in words:
        glued = _GLUED_RE.match(w) or _CODE_RE.match(w)
        if glued:
            # "W24" is week 24 (a lone d or m before a number names a vitamin or a square metre
            # as often as a day or a month: those stay letters).
            out.extend("week" if x == "w" else x for x in glued.groups() if x)
            tens = False
            continue
        if w in _ROMAN and roman:
            out.append(_ROMAN[w])  # "grade III" -> "grade 3", "grade III or IV" -> "3 or 4"
            tens = False
            continue
        roman = w in _NUMBERED or (roman and w in ("and", "or", "to"))
        number = _NUMBERS.get(w)
        if tens and number is not None and len(number) == 1:
            out[-1] = str(int(out[-1]) + int(number))  # "twenty four" -> "24"
            tens = False
            continue
        tens = number in _TENS
        out.append(number or w)
    return " ".join(out)


_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


def _number(word: str) -> bool:
    return bool(_NUMBER_RE.fullmatch(word))


def stem(word: str) -> str:
    """A word without its inflection, so that "achieved" and "achieve", "seizures" and "seizure"
    are one word (a light suffix strip: plural, past, -ing, a final e; short words kept), spelt
    the American way ("randomised" and "randomized" are one word)."""
    if len(word) <= 4 or _number(word):
        return word
    word = spelling(word)
    if word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    else:
        if word.endswith("s") and not word.endswith(("ss", "is", "us")):
            word = word[:-1]
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


_SPELLING = (
    # British spellings as American ones, which registry texts mix (often within one record):
    # -ise/-isation (randomise), -yse (analyse), -our (tumour), -tre/-bre (centre, fibre),
    # ae/oe (haemoglobin, oedema, diarrhoea), a doubled l before a suffix (labelled).
    (re.compile(r"(?<=\w)is(e|ed|es|ing|ation|ations)$"), r"iz\1"),
    (re.compile(r"(?<=\w)ys(e|ed|es|ing)$"), r"yz\1"),
    (re.compile(r"(?<=\w\w\w)our(s?)$"), r"or\1"),
    (re.compile(r"(?<=\w\w)(t|b)re(s?)$"), r"\1er\2"),
    (re.compile(r"(?<=\w)(ae|oe)"), "e"),
    (re.compile(r"^(ae|oe)(?=\w{3})"), "e"),
    (re.compile(r"(?<=\w{4})ll(ed|ing|er|ers)$"), r"l\1"),
)


def spelling(word: str) -> str:
    """A word spelt the American way: "randomisation" -> "randomization", "tumours" ->
    "tumors", "haemoglobin" -> "hemoglobin", "labelled" -> "labeled" (long words only)."""
    if len(word) <= 4:
        return word
    for pattern, repl in _SPELLING:
        word = pattern.sub(repl, word)
    return word


# The analysis an outcome is reported for, named beside it: its population ("(ITT Population)",
# "(Per-Protocol Set)") or the analysis of the registry's time ("(FDA Snapshot Analysis)",
# "Interim Analysis: ..."). Which participants or which data cut are analysed qualifies the
# report; what is measured, how it is aggregated and when are the outcome, and stay.
_ANALYSIS_WORDS = (
    r"(?:population|m?itt|intent(?:ion)?[\s-]+to[\s-]+treat|per[\s-]+protocol"
    r"|(?:full|safety)\s+analysis\s+set|(?:snapshot|interim|final|primary)\s+analys[ie]s)"
)
_ANALYSIS_RE = re.compile(rf"\((?=[^()]*\b{_ANALYSIS_WORDS}\b)[^()]*\)", re.I)
_ANALYSIS_HEAD_RE = re.compile(
    r"^\s*(?:interim|primary|final|main|updated)\s+analys[ie]s\s*[:\-–]\s*", re.I
)


def unqualified(text: Any) -> Any:
    """A text without the analysis it names beside the outcome: "Percentage Change in FEV1 (ITT
    Population)" -> "Percentage Change in FEV1", "Interim Analysis : Resolution at Week 24" ->
    "Resolution at Week 24" (other values as they are)."""
    if not isinstance(text, str):
        return text
    return _ANALYSIS_HEAD_RE.sub("", _ANALYSIS_RE.sub(" ", text))


# Where a phrase of an objective ends: punctuation, or a word that opens the next part.
_UNTIL = (
    r"(?=\s*[,.;:()]|\s*$|\s+(?:compared|versus|vs|relative|against|over|in|on|for|as|when|at|"
    r"after|during|by|from|among|to|and\s+to|using)\b)"
)
# The frame of an objective, which an outcome's title drops (Holst et al. rate it no change):
# the treatment compared ("the efficacy of drug X 100 mg bid", "X versus Y", "to show that X
# improves"), and the population it is given to ("in patients with condition Z"). What every
# outcome of a trial shares says nothing of what one of them measures.
_OBJECTIVE_RES = (
    # "efficacy of X", "effect of X" (not "side effects of X", which are what is measured).
    re.compile(
        r"(?<!side )(?<!adverse )(?<!toxic )\b(?:efficacy|effects?|effectiveness|superiority|"
        rf"non-?inferiority|benefit)\s+of\s+(?:the\s+)?.+?{_UNTIL}",
        re.I,
    ),
    # "X versus Y", "compared with Y": the arm after the comparison, and the one before it when
    # "of" names it ("PFS of drug A vs drug B").
    re.compile(r"\bof\s+[\w-]+(?:\s+[\w-]+){0,2}(?=\s+(?:versus|vs)\b)", re.I),
    # (Not a threshold: "mRS 0-2 versus greater than 2" is a dichotomy of the measure.)
    re.compile(
        r"\b(?:compared\s+(?:with|to)|versus|vs\.?|against|relative\s+to)\s+"
        rf"(?!\d|[<>≤≥]|(?:greater|less|more|fewer|higher|lower|above|below)\b).+?{_UNTIL}",
        re.I,
    ),
    # "that X improves", "whether X reduces": the treatment as the subject of the aim's verb.
    re.compile(
        r"\b(?:that|whether)\s+(?:\S+\s+){0,5}?(?:positively\s+|significantly\s+)?"
        r"(?:affects?|improves?|prolongs?|reduces?|increases?|decreases?|delays?|prevents?|"
        r"lowers?)\b",
        re.I,
    ),
    # "in patients with Z", "among adults with Z" (not "number of patients with", the measure).
    re.compile(
        r"\b(?:in|among)\s+(?:\w+\s+){0,2}?(?:patients|subjects|participants|adults|children|"
        rf"infants|women|men|people|individuals)\s+(?:with|who\s+have|having)\s+.+?{_UNTIL}",
        re.I,
    ),
)


def unframed(text: Any) -> Any:
    """A text without the frame of an objective: "The primary objective is to assess the
    efficacy of drug X 100 mg bid compared with placebo, as determined by pain at week 12" ->
    "The primary objective is to assess the , as determined by pain at week 12" (the words left
    are filler, the measure and its time)."""
    if not isinstance(text, str):
        return text
    for pattern in _OBJECTIVE_RES:
        text = pattern.sub(" ", text)
    return text


def meaningful(text: Any) -> list[str]:
    """The meaningful words of a text, stemmed (the analysis it is reported for left out)."""
    return [stem(w) for w in norm(unqualified(text)).split() if w not in _STOP]


def content(text: Any) -> list[str]:
    """What is measured: the words that are neither metric, time nor filler, nor the analysis
    the outcome is reported for."""
    return [
        stem(w)
        for w in norm(unframed(unqualified(text))).split()
        if w not in _STOP and w not in _METRIC and w not in _TIME_WORDS and not _number(w)
    ]


def metrics(text: Any) -> set[str]:
    """The metrics a text names (see _a_metric for the words that are no metric here)."""
    words = norm(text).split()
    return {_METRIC[w] for i, w in enumerate(words) if w in _METRIC and _a_metric(words, i)}


# A rate that is a quantity measured, not a share of participants ("heart rate").
_RATE_OF = frozenset("heart respiratory pulse filtration flow growth strain infusion".split())


def _a_metric(words: list[str], i: int) -> bool:
    """Whether a metric word is one here: "percent" after a number is a quantity ("a 50%
    reduction"), "time" a time to an event only before "to", "from" or "until" ("time to
    progression", not "at the time of surgery"), "rate" no metric in "heart rate"."""
    w, before = words[i], words[i - 1] if i else ""
    after = words[i + 1] if i + 1 < len(words) else ""
    if w.startswith("percent"):
        return not _number(before)
    if w == "time":
        return after in ("to", "from", "until")
    if w in ("rate", "rates"):
        return before not in _RATE_OF
    return True


_DAYS = {"min": 1 / 1440, "h": 1 / 24, "d": 1.0, "w": 7.0, "m": 30.4375, "y": 365.25}


# Day 0 or 1, week 0: the baseline visit, which a time frame may name or leave implied.
_BASELINE = {("0", "d"), ("1", "d"), ("0", "w"), ("0", "m")}


def times(text: Any, month: float = _DAYS["m"]) -> set[tuple[str, str]]:
    """The time points a text names, as (amount, unit): "12 months, Day 28" -> {("12", "m"),
    ("28", "d")}; "1 year" and "week 52" both -> ("52", "w") (spans in days, rounded to weeks
    when longer than a fortnight), so that the same time said two ways is one time."""
    words = norm(text).split()
    out: set[tuple[str, str]] = set()
    for i, w in enumerate(words):
        if not _number(w):
            continue
        after = words[i + 1] if i + 1 < len(words) else ""
        before = words[i - 1] if i else ""
        if after in _UNITS and before in _UNITS and i + 2 < len(words) and _number(words[i + 2]):
            after = ""  # "Week 12 Visit 5": the unit after introduces the next number
        unit = _UNITS.get(after) or _UNITS.get(before) or _run_unit(words, i)
        if unit is None:
            continue
        if unit in _DAYS:
            days = float(w) * (month if unit == "m" else _DAYS[unit])
            out.add((f"{round(days / 7)}", "w") if days > 14 else (f"{round(days, 2):g}", "d"))
        else:
            out.add((w, unit))
    return out


_RUN_JOINERS = frozenset("to and or through then".split())


def _run_unit(words: list[str], i: int) -> str | None:
    """The unit of a number in a list or range of numbers that names its unit once: after the
    last ("2 to 4 weeks", "6, 12 and 24 months") or before the first ("Weeks 4, 8 and 12",
    "wk 9-12"). Only numbers and joining words may stand between."""

    def joined(w: str) -> bool:
        return bool(_NUMBER_RE.fullmatch(w)) or w in _RUN_JOINERS

    j = i + 1
    while j < len(words) and joined(words[j]):
        j += 1
    if j < len(words) and words[j] in _UNITS and j > i + 1:
        return _UNITS[words[j]]
    j = i - 1
    while j >= 0 and joined(words[j]):
        j -= 1
    if j >= 0 and words[j] in _UNITS and j < i - 1:
        return _UNITS[words[j]]
    return None


def points(text: Any, month: float = _DAYS["m"]) -> set[tuple[str, str]]:
    """The time points of a time frame, the baseline visit left out."""
    return times(text, month) - _BASELINE


def same_times(a: Any, b: Any) -> bool:
    """Whether two time frames name the same time points, a month read as 4 weeks on either
    side when that makes them agree ("Month 6" and "Week 24" are one visit in most schedules)."""
    pa, pb = points(a), points(b)
    if pa == pb or points(a, 28.0) == pb or pa == points(b, 28.0):
        return True
    # "Week 12 (Visit 5)" and "Week 12": a visit or cycle number names a visit of the schedule,
    # which the time beside it already places; compared only where neither names a time.
    ta, tb = _timed(pa), _timed(pb)
    if ta and tb and (ta, tb) != (pa, pb):
        return ta == tb or _timed(points(a, 28.0)) == tb or ta == _timed(points(b, 28.0))
    return False


def _timed(found: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The time points of a set in units of time (no visit or cycle numbers)."""
    return {p for p in found if p[1] in ("d", "w")}


def stated(time_frame: Any, text: str) -> bool:
    """Whether a time frame says no more than a text did: its time points all named there (with
    a month as 4 weeks or as a twelfth of a year), or, when it names none, its words all there."""
    said = times(text) | times(text, 28.0)
    named = points(time_frame)
    if named:
        return named <= said or points(time_frame, 28.0) <= said
    words = [w for w in meaningful(time_frame) if not _number(w)]
    return bool(words) and set(words) <= set(meaningful(text))


_ABBREVIATION_WORD_RE = re.compile(r"\b[A-Z][A-Z0-9]*[A-Z][A-Z0-9-]*\b")


def abbreviations(text: Any) -> set[str]:
    """The abbreviations a measure uses (two or more capitals: "IPSS", "FEV1", "ACR20")."""
    if not isinstance(text, str) or text.isupper() or text.istitle():
        return set()
    words = _ABBREVIATION_WORD_RE.findall(text)
    return {w.replace("-", "") for w in words if len(w) >= 3 and not w.isdigit()}


_ABBREVIATION_RE = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9-]{1,9})\s*\)")


def spelt_out(text: str, other: str) -> set[str]:
    """The words of `text` that spell out an abbreviation `other` uses: "Alanine
    Aminotransferase (ALT)" gives {"alanine", "aminotransferase"} when `other` says "ALT"."""
    out: set[str] = set()
    theirs = set(norm(other).split())
    for m in _ABBREVIATION_RE.finditer(text):
        short_form = norm(m[1]).replace(" ", "")
        if short_form not in theirs:
            continue
        letters = [c for c in short_form if c.isalpha()]
        before = norm(text[: m.start()]).split()
        words = [w for w in before if w not in _STOP][-len(letters) - 1 :]
        # The words whose first letters make the abbreviation, nearest first.
        for w in reversed(words):
            if letters and w[0] == letters[-1]:
                out.add(stem(w))
                letters.pop()
            elif letters:
                out.add(stem(w))  # "Psoriasis Area and Severity": a joining word between
    return out


_TOKEN_RE = re.compile(r"[A-Za-z0-9]+")


def _acronym(token: str) -> str | None:
    """The letters of an acronym ("PFS", "AEs", "QoL", "mRS", "FEV1" -> "pfs", "ae", "qol",
    "mrs", "fev"): two or more capitals, two to seven letters, a plural s and a number dropped."""
    letters = token.rstrip("0123456789")
    if len(letters) >= 3 and letters.endswith("s") and letters[:-1].isupper():
        letters = letters[:-1]
    if not (2 <= len(letters) <= 7 and letters.isalpha()):
        return None
    return letters.lower() if sum(c.isupper() for c in letters) >= 2 else None


def expansions(text: Any, other: Any) -> dict[str, list[str]]:
    """The acronyms `text` uses (as content() says them) that `other` spells out, with the
    words that spell them:
    "PFS" and "time of progression-free survival" -> {"pfs": ["progression", "free",
    "survival"]}. The words are consecutive, their first letters the acronym's in order, filler
    words ("quality of life") skipped or counted; in a text all in capitals only short words
    can be acronyms."""
    if not isinstance(text, str) or not isinstance(other, str):
        return {}
    longest = 4 if text.isupper() else 7
    words = norm(other).split()
    out: dict[str, list[str]] = {}
    for token in _TOKEN_RE.findall(text):
        letters = _acronym(token)
        key = stem(token.rstrip("0123456789").lower())  # the acronym as content() says it
        if letters is None or key in out or len(letters) > longest:
            continue
        for i, first in enumerate(words):
            if first[0] != letters[0] or first in _STOP or first == letters:
                continue
            run, k, j = [first], 1, i + 1
            while k < len(letters) and j < len(words):
                w = words[j]
                if w[0] == letters[k]:
                    run.append(w)
                    k += 1
                elif w in _STOP and len(letters) > 2:
                    pass  # "Psoriasis Area and Severity Index"
                else:
                    break
                j += 1
            if k == len(letters):
                out[key] = [stem(w) for w in run if w not in _STOP]
                break
    return out


def glossary(a: Any, b: Any) -> set[str]:
    """The words two texts share through an acronym one uses and the other spells out: the
    acronyms and the words that spell them ("PFS" in one, "progression-free survival" in the
    other: {"pfs", "progression", "free", "survival"})."""
    out: set[str] = set()
    for x, y in ((a, b), (b, a)):
        for acronym, spelt in expansions(x, y).items():
            out.add(acronym)
            out.update(spelt)
    return out


def expanded(text: Any, other: Any) -> list[str]:
    """The meaningful words of a text, its acronyms that the other text spells out replaced by
    the words that spell them."""
    spelt = expansions(text, other)
    out: list[str] = []
    for w in meaningful(text):
        out.extend(spelt.get(w, [w]))
    return out


_CODE_NUMBER_RE = re.compile(r"\b([A-Z][A-Za-z]*[A-Z])[- ]?(\d+)\b")


def numbered_names(text: Any) -> dict[str, set[str]]:
    """The numbers a text gives a named instrument or agent ("ACR20", "PASI-75", "HIV-1",
    "FEV 1"), by name: {"acr": {"20"}}. The number of such a name is part of what is measured
    (a response threshold, a virus type, a volume in a second)."""
    if not isinstance(text, str):
        return {}
    out: dict[str, set[str]] = {}
    for name, number in _CODE_NUMBER_RE.findall(text):
        out.setdefault(name.lower(), set()).add(number)
    return out
