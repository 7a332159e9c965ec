"""An agent's own approval gate, and what an agent's finished change says about itself.

K8s Autopilot pauses a state-changing tool call in input-required with an approval card (the tool, its arguments,
how many actions are pending). sre-agent answers such a gate only for the plan people approved in Slack, and only when
the card asks for exactly that plan: one action, of the plan's kind, on the plan's target, with the plan's numbers.
Anything else is refused with the reason.

A task that ended "completed" is not yet a change carried out: a rejected gate, a failed tool and an input the agent
could not read all end so. `outcome_of` reads what the agent said (its tool cards, a data part's outcome, a "FAILED:"
result) into carried out, failed, or not said. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain.runbooks import Plan

__all__ = ["ChangeOutcome", "GateRequest", "Outcome", "mismatch", "outcome_of"]

# The words of a tool's name that do a plan's kind (a kind's own words count too: `helm_rollback` does `rollback`).
_KIND_WORDS: dict[str, frozenset[str]] = {
    "rollback": frozenset({"rollback", "undo", "revert"}),
    "scale": frozenset({"scale", "replicas", "replica"}),
    "scale_replicas": frozenset({"scale", "replica", "replicas"}),
    "scale_instance": frozenset({"modify", "instance", "class", "scale", "resize"}),
    "raise_memory_limit": frozenset({"resources", "resource", "limits", "limit", "memory", "patch", "set"}),
    "restart": frozenset({"restart", "rollout"}),
}
# argument names that name the target, and which of the plan's values each is compared with
_NAME_ARGS = ("name", "release", "release_name", "deployment", "service", "db_instance_identifier", "resource")
_NAMESPACE_ARGS = ("namespace", "ns")
# arguments that are the plan's numbers, when the plan gives them (absolute values only)
_NUMBER_ARGS = {
    "replicas": ("replicas",),
    "memory_limit": ("memory_limit", "memory", "limits_memory"),
    "cpu_limit": ("cpu_limit", "cpu", "limits_cpu"),
    "instance_class": ("instance_class", "db_instance_class"),
    "revision": ("revision", "to_revision"),
    # a plan that changes something from one value `to` another: the value the gate sets
    "to": ("memory_limit", "memory", "limits_memory", "instance_class", "db_instance_class", "replicas"),
}
# a result that says it failed: "FAILED ...", "Failed: ...", "Error: ..." (not "Error rate is 0.3%")
_FAILED = re.compile(r"^\s*(?:FAILED\b|(?i:failed|error)\s*:|(?i:agent execution encountered an error))")
_TOOL_DONE = frozenset({"success", "succeeded", "completed", "done", "ok"})
_TOOL_FAILED = frozenset({"error", "failed", "failure", "rejected", "denied", "cancelled", "canceled"})


@dataclass(frozen=True)
class GateRequest:
    """What an agent's approval gate asks to do."""

    tool: str = ""  # the tool's name, where the card gives it
    arguments: dict[str, str] = field(default_factory=dict)
    actions: int = 1  # how many pending actions one decision would cover
    text: str = ""  # the card's words, to show people

    @property
    def described(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.arguments.items())
        what = f"{self.tool}({args})" if self.tool else args or self.text
        return f"{what} (and {self.actions - 1} more)" if self.actions > 1 else what


def mismatch(plan: Plan, request: GateRequest) -> str | None:
    """Why this gate is not the approved plan (None: it is). A gate that names nothing is taken for the change
    sre-agent just asked for in its task."""
    if request.actions > 1:
        return f"it asks for {request.actions} actions at once; the approval covers one"
    if request.tool and not _does(plan.kind, request.tool):
        return f"it asks to run {request.tool}, not a {plan.kind.replace('_', ' ')}"
    names = {str(v).lower() for k, v in plan.target.items() if k in ("service", "release", "name", "database")}
    names |= {str(v).lower() for k, v in plan.parameters.items() if k in ("database", "release", "name")}
    for arg in _NAME_ARGS:
        value = request.arguments.get(arg)
        if value and names and value.lower() not in names:
            return f"it names {arg} {value}, not {' or '.join(sorted(names))}"
    namespace = plan.target.get("namespace")
    for arg in _NAMESPACE_ARGS:
        value = request.arguments.get(arg)
        if value and namespace and value != namespace:
            return f"it names namespace {value}, not {namespace}"
    for planned, args in _NUMBER_ARGS.items():
        if planned not in plan.parameters:
            continue
        for arg in args:
            value = request.arguments.get(arg)
            if value is not None and not _same(value, plan.parameters[planned]):
                return f"it sets {arg} to {value}, not {plan.parameters[planned]}"
    return None


def _does(kind: str, tool: str) -> bool:
    words = set(re.split(r"[^a-z0-9]+", tool.lower()))
    wanted = _KIND_WORDS.get(kind, frozenset()) | set(kind.lower().split("_"))
    return bool(words & wanted)


def _same(value: str, planned: Any) -> bool:
    try:
        return float(value) == float(planned)
    except (TypeError, ValueError):
        return str(value).strip().lower() == str(planned).strip().lower()


class Outcome(StrEnum):
    CARRIED_OUT = "carried_out"  # the agent said it was done
    FAILED = "failed"  # the agent said it was not (or the task failed)
    NOT_SAID = "not_said"  # completed without saying either: only the verification can tell


@dataclass(frozen=True)
class ChangeOutcome:
    outcome: Outcome
    why: str


def outcome_of(
    state: str, text: str, data: tuple[dict[str, Any], ...], tools: tuple[tuple[str, str], ...]
) -> ChangeOutcome:
    """What a finished change task says: `tools` are its tool cards as (tool, status), in order."""
    said = text.strip()
    if state != "completed":
        return ChangeOutcome(Outcome.FAILED, f"the task ended {state}" + (f": {said}" if said else ""))
    if _FAILED.search(said):
        return ChangeOutcome(Outcome.FAILED, said)
    failed = [name for name, status in tools if status.lower() in _TOOL_FAILED]
    if failed:
        return ChangeOutcome(Outcome.FAILED, f"{', '.join(failed)} did not succeed" + (f": {said}" if said else ""))
    for item in data:
        status = str(item.get("outcome") or item.get("status") or "").lower()
        if status in _TOOL_FAILED:
            return ChangeOutcome(Outcome.FAILED, said or f"the agent reported {status}")
        if status in _TOOL_DONE:
            return ChangeOutcome(Outcome.CARRIED_OUT, said or "done")
    if any(status.lower() in _TOOL_DONE for _, status in tools):
        return ChangeOutcome(Outcome.CARRIED_OUT, said or "done")
    return ChangeOutcome(Outcome.NOT_SAID, said or "the agent ended its task without saying whether it was done")
