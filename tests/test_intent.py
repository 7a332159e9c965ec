"""How @sre reads plain English: every example of the reference table, and many phrasings of our own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config.catalog import load_catalog
from bot.domain.intent import Intent, find_service, read

CATALOG = load_catalog(Path(__file__).resolve().parents[1] / "examples" / "catalog.yml", required=True)

MENTIONS = Path(__file__).resolve().parent / "reference" / "mentions.md"


def reference_examples() -> list[tuple[str, str, str | None, str | None]]:
    """The rows of the table in mentions.md: message, intent, service, and a severity where the notes give one."""
    rows = []
    for line in MENTIONS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("message", "") or set(cells[0]) <= {"-"}:
            continue
        message, intent, service, notes = cells
        hint = re.search(r"\b(?:P|sev)([1-5])\b", notes) or (re.search(r"P([1-5]) unless told", notes))
        severity = f"P{hint.group(1)}" if hint else ("P2" if intent == "investigate" else None)
        rows.append((message, intent, service or None, severity))
    return rows


REFERENCE = reference_examples()

# message, intent, service, severity (None: not checked / none expected)
OURS = [
    # investigate, with the service named every which way
    ("<@U0SREBOT> payments-api is returning 502s", "investigate", "payments-api", "P2"),
    ("pay is failing for some users", "investigate", "payments-api", "P2"),
    ("The Payments API seems slow today", "investigate", "payments-api", "P2"),
    ("paymnets api latency is through the roof", "investigate", "payments-api", "P2"),
    ("chekout is broken", "investigate", "checkout-service", "P2"),
    ("cart checkout keeps crashing", "investigate", "checkout-service", "P2"),
    ("search results are timing out", "investigate", "search-service", "P2"),
    ("seach is down", "investigate", "search-service", "P2"),
    ("auth is erroring", "investigate", "auth-service", "P2"),
    ("nobody can log in, login is completely down", "investigate", "auth-service", "P1"),
    ("checkout-service pods are in CrashLoopBackOff", "investigate", "checkout-service", "P2"),
    ("checkout is OOMKilled again", "investigate", "checkout-service", "P2"),
    ("can you look into checkout?", "investigate", "checkout-service", "P2"),
    ("investigate payments", "investigate", "payments-api", "P2"),
    ("payments is down sev1", "investigate", "payments-api", "P1"),
    ("p3: search is a bit slow", "investigate", "search-service", "P3"),
    ("something is broken, not sure what", "investigate", None, "P2"),
    ("checkout 5xx spike", "investigate", "checkout-service", "P2"),
    # budget
    ("error budget for auth?", "budget", "auth-service", None),
    ("how much budget does search have left", "budget", "search-service", None),
    ("what's our burn rate on checkout", "budget", "checkout-service", None),
    ("show me the SLOs", "budget", None, None),
    # on call
    ("who is on call?", "oncall", None, None),
    ("who's oncall for payments", "oncall", "payments-api", None),
    ("who is on-call for checkout right now", "oncall", "checkout-service", None),
    # list / status
    ("list incidents", "list", None, None),
    ("show open incidents", "list", None, None),
    ("any active incidents?", "list", None, None),
    ("what's the status?", "status", None, None),
    ("any update?", "status", None, None),
    ("where are we", "status", None, None),
    # severity
    ("sev 2", "severity", None, "P2"),
    ("make this P1", "severity", None, "P1"),
    ("set severity to sev3", "severity", None, "P3"),
    ("SEV-4", "severity", None, "P4"),
    # escalate / resolve
    ("please escalate", "escalate", None, None),
    ("we need backup, page the next person", "escalate", None, None),
    ("all clear", "resolve", None, None),
    ("it's fixed, close it", "resolve", None, None),
    ("mitigated, back to normal", "resolve", None, None),
    # help / unknown
    ("what can you do?", "help", None, None),
    ("", "unknown", None, None),
    ("good morning", "unknown", None, None),
    ("ok", "unknown", None, None),
    ("tell me a joke", "unknown", None, None),
]


@pytest.mark.parametrize(("text", "intent", "service", "severity"), REFERENCE + OURS)
def test_reading(text: str, intent: str, service: str | None, severity: str | None) -> None:
    reading = read(text, CATALOG)
    assert reading.intent == Intent(intent), reading
    assert reading.service == service, reading
    if severity is not None or intent == "investigate":
        assert reading.severity is not None and str(reading.severity) == severity, reading


def test_short_aliases_never_match_fuzzily() -> None:
    # "pat" is one letter from "pay", "oath" from "auth": short words are matched exactly or not at all
    assert find_service("pat is here", CATALOG) is None
    assert find_service("oath problems", CATALOG) is None


def test_the_longest_name_wins() -> None:
    assert find_service("cart checkout payments", CATALOG) == "checkout-service"


def test_no_catalog_means_no_service() -> None:
    from bot.domain.catalog import Catalog

    assert read("payments is down", Catalog()).service is None
    assert read("payments is down", Catalog()).intent is Intent.INVESTIGATE


def test_the_reference_table_is_all_there() -> None:
    assert len(REFERENCE) == 14
    assert ("sev1", "severity", None, "P1") in REFERENCE
    assert ("login is down for everyone!!!", "investigate", "auth-service", "P1") in REFERENCE
