"""The rules for an agent's approval gate and a finished change (bot/domain/agent_gate.py), and the reading of A2UI
cards and A2A replies (bot/adapters/a2ui.py, a2a_wire.py): pure, no HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from bot.adapters.a2a_wire import StreamFold, reply_of
from bot.adapters.a2ui import surfaces_of
from bot.domain.agent_gate import GateRequest, Outcome, mismatch, outcome_of
from bot.domain.runbooks import Plan, Risk

MEMORY = Plan(
    "memory-pressure",
    "Increase memory limit from 512Mi to 768Mi",
    "raise_memory_limit",
    {"service": "checkout-service", "namespace": "shop"},
    {"from": "512Mi", "to": "768Mi"},
    Risk.MEDIUM,
    True,
    "fewer restarts",
    False,
    (),
)


@pytest.mark.parametrize(
    ("request_", "why"),
    [
        (GateRequest("k8s_set_resources", {"name": "checkout-service", "namespace": "shop"}), None),
        (GateRequest(text="May I raise the memory limit?"), None),  # names nothing: the change just asked for
        (GateRequest("helm_uninstall", {"release_name": "checkout-service"}), "it asks to run helm_uninstall"),
        (GateRequest("k8s_set_resources", {"name": "payments-api"}), "it names name payments-api"),
        (GateRequest("k8s_set_resources", {"namespace": "prod"}), "it names namespace prod, not shop"),
        (GateRequest("k8s_set_resources", {"memory_limit": "4Gi"}), "it sets memory_limit to 4Gi, not 768Mi"),
        (GateRequest("k8s_set_resources", {"memory_limit": "768mi"}), None),
        (GateRequest("k8s_set_resources", {}, actions=2), "it asks for 2 actions at once"),
    ],
)
def test_a_gate_is_the_approved_plan_or_says_why_not(request_: GateRequest, why: str | None) -> None:
    found = mismatch(MEMORY, request_)
    assert (found is None) if why is None else (found is not None and found.startswith(why))


@pytest.mark.parametrize(
    ("state", "text", "data", "tools", "outcome"),
    [
        ("completed", "", ({"outcome": "done"},), (), Outcome.CARRIED_OUT),
        ("completed", "", (), (("k8s_set_resources", "success"),), Outcome.CARRIED_OUT),
        ("completed", "FAILED: quota exceeded", (), (("k8s_set_resources", "success"),), Outcome.FAILED),
        ("completed", "Error: no such deployment", (), (), Outcome.FAILED),
        ("completed", "All set.", (), (("k8s_set_resources", "error"),), Outcome.FAILED),
        ("completed", "The change was rejected.", (), (("k8s_set_resources", "rejected"),), Outcome.FAILED),
        ("completed", "Done: memory raised", (), (), Outcome.NOT_SAID),
        ("completed", "Error rate is 0.3% now", (), (("k8s_set_resources", "success"),), Outcome.CARRIED_OUT),
        ("completed", "Failed: no such deployment", (), (), Outcome.FAILED),
        ("failed", "boom", (), (), Outcome.FAILED),
    ],
)
def test_completed_is_not_yet_carried_out(
    state: str, text: str, data: tuple[dict[str, Any], ...], tools: tuple[tuple[str, str], ...], outcome: Outcome
) -> None:
    assert outcome_of(state, text, data, tools).outcome is outcome


def test_a2ui_v0_8_surfaces_with_literal_strings_are_read() -> None:
    [surface] = surfaces_of(
        [
            {"beginRendering": {"surfaceId": "s1", "catalogId": "standard"}},
            {
                "surfaceUpdate": {
                    "surfaceId": "s1",
                    "components": [{"id": "t", "component": {"Text": {"text": {"literalString": "CPU at 95%"}}}}],
                }
            },
            {"dataModelUpdate": {"surfaceId": "s1", "contents": [{"key": "cpu", "valueNumber": 0.95}]}},
        ]
    )
    assert surface.kind == "Text" and surface.text() == "CPU at 95%" and surface.model == {"cpu": 0.95}


def test_a_streamed_answer_is_the_turn_that_ended_the_task() -> None:
    a2ui = {"metadata": {"mimeType": "application/json+a2ui"}}
    fold = StreamFold()
    events: list[dict[str, Any]] = [
        {"task": {"id": "t", "contextId": "c", "status": {"state": "TASK_STATE_SUBMITTED"}}},
        {"statusUpdate": {"taskId": "t", "status": {"state": "TASK_STATE_WORKING", "message": _m("m1", "Earlier.")}}},
        {
            "statusUpdate": {
                "taskId": "t",
                "status": {
                    "state": "TASK_STATE_WORKING",
                    "message": {
                        "messageId": "m2",
                        "parts": [{"data": {"updateDataModel": {"surfaceId": "x", "value": {"restarts": 3}}}, **a2ui}],
                    },
                },
            }
        },
        {"statusUpdate": {"taskId": "t", "status": {"state": "TASK_STATE_WORKING", "message": _m("m2", "3 pods ")}}},
        {"statusUpdate": {"taskId": "t", "status": {"state": "TASK_STATE_WORKING", "message": _m("m2", "restart.")}}},
        {"statusUpdate": {"taskId": "t", "status": {"state": "TASK_STATE_COMPLETED", "message": _m("m2", "")}}},
    ]
    for event in events:
        assert not fold.done
        fold.add(event)
    reply = fold.reply()
    assert fold.done and reply is not None
    assert reply.state == "completed" and reply.text == "3 pods restart." and reply.progress == ("Earlier.",)
    assert {"restarts": 3} in reply.data
    # the same task read whole (GetTask): the same reply
    again = reply_of(fold.task)
    assert (again.text, again.data) == (reply.text, reply.data)


def _m(message_id: str, text: str) -> dict[str, Any]:
    return {"messageId": message_id, "role": "ROLE_AGENT", "parts": [{"text": text}]}
