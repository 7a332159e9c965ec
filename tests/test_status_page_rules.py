"""What is proposed for the public status page, and a person's decision on it (bot.domain.status_page), without I/O;
the whole path against the sandbox's Statuspage is in tests/test_status_page.py."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from blocks.status_page import post_blocks, post_text
from bot.domain.severity import Severity
from bot.domain.status_page import (
    PostStatus,
    PublicPhase,
    PublicPost,
    decide_post,
    draft,
    edit_post,
    next_post,
    post_hash,
)

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
ALLOWED = frozenset({"U0DANA"})


def _post(phase: PublicPhase, status: PostStatus, *, updates: bool = False, id: int = 1) -> PublicPost:
    name, body, components = draft(phase, ["Checkout"], ["ckt4mz8q1r0w"], Severity.P2)
    digest = post_hash(phase, name, body, components, updates=updates)
    return PublicPost(id, 7, phase, name, body, components, updates, digest, status, NOW)


def test_the_words_and_components_follow_the_phase_and_severity() -> None:
    name, body, components = draft(PublicPhase.INVESTIGATING, ["Checkout", "Payments"], ["c1", "c2"], Severity.P1)
    assert name == "Major outage of Checkout and Payments"
    assert body.startswith("We are investigating major outage of Checkout and Payments.")
    assert components == (("c1", "major_outage"), ("c2", "major_outage"))
    assert draft(PublicPhase.IDENTIFIED, ["Checkout"], ["c1"], Severity.P3)[2] == (("c1", "degraded_performance"),)
    _, said, done = draft(PublicPhase.RESOLVED, ["Checkout"], ["c1"], Severity.P1)
    assert done == (("c1", "operational"),) and "Checkout is operating normally" in said


def test_the_first_post_creates_later_ones_update_and_none_goes_backwards() -> None:
    assert next_post([], PublicPhase.INVESTIGATING).propose
    assert not next_post([], PublicPhase.INVESTIGATING).updates
    waiting = _post(PublicPhase.INVESTIGATING, PostStatus.PROPOSED)
    step = next_post([waiting], PublicPhase.IDENTIFIED)  # nobody decided yet: the later one replaces it, creating
    assert step.propose and not step.updates and step.superseded == (waiting,)
    public = _post(PublicPhase.INVESTIGATING, PostStatus.PUBLISHED)
    step = next_post([public], PublicPhase.MONITORING)
    assert step.propose and step.updates and step.superseded == ()
    approved = _post(PublicPhase.INVESTIGATING, PostStatus.APPROVED)  # being posted now: the next one updates it
    assert next_post([approved], PublicPhase.IDENTIFIED).updates
    later = _post(PublicPhase.MONITORING, PostStatus.PROPOSED, updates=True, id=2)
    assert not next_post([public, later], PublicPhase.IDENTIFIED).propose
    assert not next_post([public, later], PublicPhase.MONITORING).propose


def test_after_a_rejected_creation_or_a_quiet_resolution_nothing_is_proposed() -> None:
    rejected = _post(PublicPhase.INVESTIGATING, PostStatus.REJECTED)
    assert not next_post([rejected], PublicPhase.IDENTIFIED).propose
    assert not next_post([rejected], PublicPhase.RESOLVED).propose
    waiting = _post(PublicPhase.IDENTIFIED, PostStatus.PROPOSED)
    step = next_post([waiting], PublicPhase.RESOLVED)  # never public: it stays so, and what waits goes
    assert not step.propose and step.superseded == (waiting,)
    public = _post(PublicPhase.INVESTIGATING, PostStatus.PUBLISHED)
    update_rejected = _post(PublicPhase.IDENTIFIED, PostStatus.REJECTED, updates=True, id=2)
    step = next_post([public, update_rejected], PublicPhase.RESOLVED)  # a rejected update stops nothing
    assert step.propose and step.updates


def test_a_click_counts_only_for_the_words_shown_while_it_waits_from_who_may() -> None:
    post = _post(PublicPhase.INVESTIGATING, PostStatus.PROPOSED)
    assert not decide_post(post, user="U0DANA", shown_hash="0" * 64, approve=True, allowed=ALLOWED).counted
    assert not decide_post(post, user="U0PAT", shown_hash=post.text_hash, approve=True, allowed=ALLOWED).counted
    approved = decide_post(post, user="U0DANA", shown_hash=post.text_hash, approve=True, allowed=ALLOWED)
    assert approved.counted and approved.post.status is PostStatus.APPROVED and approved.post.decided_by == "U0DANA"
    again = decide_post(approved.post, user="U0DANA", shown_hash=post.text_hash, approve=True, allowed=ALLOWED)
    assert not again.counted and "approved already" in again.message
    rejected = decide_post(post, user="U0DANA", shown_hash=post.text_hash, approve=False, allowed=ALLOWED)
    assert rejected.post.status is PostStatus.REJECTED and "Nothing more will be proposed" in rejected.message


@pytest.mark.parametrize(
    ("name", "body", "said"),
    [
        ("", "words", "needs a title and words"),
        ("Title", "  ", "needs a title and words"),
        ("T" * 256, "words", "Keep the title within 255"),
        ("Title", "w" * 2501, "the words within 2500"),
    ],
)
def test_an_edit_needs_a_title_and_words_within_limits(name: str, body: str, said: str) -> None:
    post = _post(PublicPhase.INVESTIGATING, PostStatus.PROPOSED)
    edited = edit_post(post, user="U0DANA", shown_hash=post.text_hash, name=name, body=body, allowed=ALLOWED)
    assert not edited.counted and said in edited.message


def test_an_edit_changes_the_words_and_their_hash_and_approves_nothing() -> None:
    post = _post(PublicPhase.INVESTIGATING, PostStatus.PROPOSED)
    edited = edit_post(
        post, user="U0DANA", shown_hash=post.text_hash, name=" Checkout errors ", body="We are on it.", allowed=ALLOWED
    )
    assert edited.counted and edited.post.status is PostStatus.PROPOSED
    assert (edited.post.name, edited.post.body, edited.post.edited_by) == ("Checkout errors", "We are on it.", "U0DANA")
    assert edited.post.text_hash == post_hash(
        post.phase, "Checkout errors", "We are on it.", post.components, updates=False
    )
    stale = decide_post(edited.post, user="U0DANA", shown_hash=post.text_hash, approve=True, allowed=ALLOWED)
    assert not stale.counted and "changed since it was shown" in stale.message
    same = edit_post(
        replace(post), user="U0DANA", shown_hash=post.text_hash, name=post.name, body=post.body, allowed=ALLOWED
    )
    assert not same.counted


def test_the_words_reach_slack_escaped() -> None:
    post = replace(
        _post(PublicPhase.INVESTIGATING, PostStatus.PROPOSED), name="<!channel> down", body="see <https://x|here>"
    )
    shown = json.dumps([b.to_dict() for b in post_blocks(post, {"ckt4mz8q1r0w": "Checkout"})]) + post_text(post)
    assert "<!channel>" not in shown and "<https://x|here>" not in shown
    assert "&lt;!channel&gt; down" in shown and "Checkout: partial outage" in shown
