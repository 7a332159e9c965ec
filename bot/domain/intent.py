"""How sre-agent reads a plain-English message to it: an intent, the service it is about, a severity.

Deterministic and explainable, no language model: keyword rules in a fixed order, and the service found by matching
the words of the message against every name and alias in the catalog (exactly, then fuzzily with rapidfuzz for typos
such as "paymnets"). `sre-agent intent "TEXT"` prints what this module makes of a sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz, process

from bot.domain.catalog import Catalog, normalise
from bot.domain.severity import Severity

__all__ = ["Intent", "Reading", "explicit_severity", "find_service", "read"]


class Intent(StrEnum):
    INVESTIGATE = "investigate"
    BUDGET = "budget"
    ONCALL = "oncall"
    LIST = "list"
    STATUS = "status"
    SEVERITY = "severity"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    HELP = "help"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reading:
    intent: Intent
    service: str | None = None
    severity: Severity | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "intent": str(self.intent),
            "service": self.service,
            "severity": str(self.severity) if self.severity else None,
        }


# ---- words -------------------------------------------------------------------------------------------------------

_MENTION = re.compile(r"<[@#!][^>]*>")
_EXPLICIT_SEVERITY = re.compile(r"\b(?:sev(?:erity)?\s*-?\s*|p)([1-5])\b")
_SEVERITY_WORDS = re.compile(r"\b(?:severity|sev|priority)\b")
_HELP = re.compile(r"^(?:help|\?|what can you do|how does this work|commands|usage)\b|\bhelp me use\b")
_BUDGET = re.compile(r"\b(?:error budgets?|budgets?|burn(?:ing|s|ed)?(?: rate)?|slos?|sli)\b")
_ONCALL = re.compile(r"\b(?:on ?call|oncall|who (?:is|s) (?:holding|carrying|on) (?:the )?(?:pager|call))\b")
_LIST = re.compile(
    r"\b(?:list|show)(?: (?:all|the|me))*(?: open| active| current)? incidents?\b"
    r"|\b(?:open|active|current|ongoing) incidents?\b"
    r"|\bincidents? (?:are |is )?(?:open|active|going on|right now|ongoing)\b"
    r"|\bwhat (?:is|s) (?:open|on fire|burning)\b"
    r"|^(?:list|incidents)$"
)
_STATUS = re.compile(
    r"^(?:status|update|sitrep)$|\b(?:status|sitrep|where are we|what s the latest|whats the latest|any update|"
    r"what s happening|whats happening|what is happening|state of (?:the|this) incident)\b"
)
_ESCALATE = re.compile(r"\b(?:escalate|escalation|page (?:the )?next|wake up|get (?:more )?help|need backup)\b")
_RESOLVE = re.compile(
    r"\b(?:resolve|resolved|close (?:it|this|the incident)|all clear|we re good|were good|we are good|"
    r"it s fixed|its fixed|fixed now|mitigated|back to normal|recovered)\b"
)
_PROBLEM = re.compile(
    r"\b(?:down|outage|timing out|times out|timeouts?|timed out|slow|slowness|latency|lag(?:gy|ging)?|"
    r"50[0-4]s?|5xx|4xx|errors?|erroring|throwing|failing|fails|failed|failure|broken|breaking|crash(?:ing|es|ed)?|"
    r"crashloop\w*|oom\w*|not working|doesn t work|degraded|unavailable|unreachable|spik(?:e|es|ing)|"
    r"hanging|stuck|dropping|dropped|rejecting|refus(?:ed|ing)|investigate|look(?: into| at)?|check|"
    r"figure out|what s wrong|whats wrong|what is wrong|diagnose|debug|on fire|burning down|flapping|alerting|paging)\b"
)
_WORST = re.compile(
    r"\b(?:everyone|every user|all users|all customers|everybody|completely|entirely|totally|total outage|"
    r"hard down|fully down|site down|everything is down|nothing works|nobody can|no one can|data loss|"
    r"security breach|breach)\b"
)
_THANKS = re.compile(r"^(?:thanks|thank you|thx|ty|cheers|nice|great|cool|ok|okay|ack)\b")


def _words(text: str) -> str:
    text = _MENTION.sub(" ", text)
    text = text.replace("’", "'").replace("'", " ")
    return normalise(text)


# ---- the service -------------------------------------------------------------------------------------------------

_MIN_FUZZY_LEN = 5  # short aliases ("pay", "auth") match exactly only: fuzzy matches on short words are noise
_FUZZY_CUTOFF = 85.0


def find_service(text: str, catalog: Catalog) -> str | None:
    """The catalog service a message names, by its words: the longest exact name or alias first, then a close
    misspelling of a name or alias of five letters or more."""
    words = _words(text).split()
    if not words or not len(catalog):
        return None
    names: dict[str, str] = {}
    for service in catalog:
        for spoken in service.spoken_names:
            names[spoken] = service.name
    longest = max(len(n.split()) for n in names)
    grams: list[str] = []
    for size in range(min(longest, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            gram = " ".join(words[start : start + size])
            if gram in names:
                return names[gram]
            grams.append(gram)
    candidates = [n for n in names if len(n.replace(" ", "")) >= _MIN_FUZZY_LEN]
    best: tuple[float, str] | None = None
    for gram in grams:
        if len(gram.replace(" ", "")) < _MIN_FUZZY_LEN:
            continue
        match = process.extractOne(gram, candidates, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
        if match is not None and (best is None or match[1] > best[0]):
            best = (match[1], match[0])
    return names[best[1]] if best else None


# ---- the intent --------------------------------------------------------------------------------------------------


def explicit_severity(text: str) -> Severity | None:
    """A severity the words name outright: ``sev1``, ``P2``, ``severity 3``."""
    match = _EXPLICIT_SEVERITY.search(_words(text))
    return Severity(f"P{match.group(1)}") if match else None


def read(text: str, catalog: Catalog) -> Reading:
    """What a message to the bot asks for. The rules are tried in this order, the first that fits wins:
    help, budget, on-call, list, severity, escalate, resolve, investigate (a service or a problem word), status,
    and unknown for anything else."""
    words = _words(text)
    service = find_service(text, catalog)
    severity = explicit_severity(text)
    if not words or (_THANKS.match(words) and not _PROBLEM.search(words)):
        return Reading(Intent.HELP if words.startswith("help") else Intent.UNKNOWN)
    if _HELP.search(words):
        return Reading(Intent.HELP)
    if _BUDGET.search(words):
        return Reading(Intent.BUDGET, service)
    if _ONCALL.search(words):
        return Reading(Intent.ONCALL, service)
    if _LIST.search(words):
        return Reading(Intent.LIST, service)
    if (
        severity is not None
        and (len(words.split()) <= 4 or _SEVERITY_WORDS.search(words))
        and not _PROBLEM.search(words)
    ):
        return Reading(Intent.SEVERITY, service, severity)
    if _ESCALATE.search(words):
        return Reading(Intent.ESCALATE, service)
    if _RESOLVE.search(words):
        return Reading(Intent.RESOLVE, service)
    if _PROBLEM.search(words) and (service is not None or not _STATUS.search(words)):
        if severity is None:
            severity = Severity.P1 if _WORST.search(words) or text.count("!") >= 3 else Severity.P2
        return Reading(Intent.INVESTIGATE, service, severity)
    if _STATUS.search(words):
        return Reading(Intent.STATUS, service)
    return Reading(Intent.UNKNOWN, service)
