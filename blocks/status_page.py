"""A post for the public status page as people see it in the incident's channel: the exact words customers would
read and the components it changes, with Approve / Edit / Reject bound to the hash of those words; once decided,
who decided and what became of it in place of the buttons. And the form that edits the words before approval."""

from __future__ import annotations

import json
from collections.abc import Mapping

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from blocks.ids import ActionId, BlockId, CallbackId
from blocks.proposals import HASH_SHOWN
from blocks.text import escape, link, truncate, user
from bot.domain.status_page import BODY_LIMIT, NAME_LIMIT, PostStatus, PublicPost

__all__ = ["edit_modal", "post_blocks", "post_text"]


def _what(post: PublicPost) -> str:
    return (
        f"update the public incident: *{post.phase.label}*"
        if post.updates
        else f"open a public incident: *{post.phase.label}*"
    )


def post_text(post: PublicPost) -> str:
    """The message as text (notifications, and clients without blocks)."""
    what = _what(post).replace("*", "")
    return truncate(f"Status page: proposed to {what}. {escape(post.name)}: {escape(post.body)}", 3000)


def _quoted(text: str) -> str:
    return "\n".join(f"> {escape(line)}" if line else ">" for line in text.splitlines())


def _components(post: PublicPost, labels: Mapping[str, str]) -> str:
    if not post.components:
        return "No component changes status."
    shown = [
        f"{escape(labels.get(component, component))}: {escape(status.replace('_', ' '))}"
        for component, status in post.components
    ]
    return "Components: " + ", ".join(shown)


def post_blocks(post: PublicPost, labels: Mapping[str, str]) -> list[Block]:
    """The post (its words quoted as customers would read them), its components, and while it waits the buttons
    bound to its words' hash; once decided, what became of it."""
    head = f":satellite_antenna: *Status page.* Customers are affected: I propose to {_what(post)}."
    blocks: list[Block] = [
        SectionBlock(block_id=BlockId.PUBLIC_POST, text=MarkdownTextObject(text=head)),
        SectionBlock(
            block_id=BlockId.PUBLIC_WORDS,
            text=MarkdownTextObject(text=truncate(f"> *{escape(post.name)}*\n{_quoted(post.body)}", 3000)),
        ),
        ContextBlock(elements=[MarkdownTextObject(text=truncate(_components(post, labels), 3000))]),
    ]
    if post.status is PostStatus.PROPOSED:
        value = f"{post.id}:{post.text_hash}"
        blocks.append(
            ActionsBlock(
                block_id=BlockId.PUBLIC_ACTIONS,
                elements=[
                    ButtonElement(
                        text="Approve",
                        action_id=ActionId.PUBLIC_APPROVE,
                        value=value,
                        style="primary",
                        confirm=ConfirmObject(
                            title="Post it publicly?",
                            text="Customers will see these words on the status page.",
                            confirm="Post it",
                            deny="Not yet",
                        ),
                    ),
                    ButtonElement(text="Edit", action_id=ActionId.PUBLIC_EDIT, value=value),
                    ButtonElement(text="Reject", action_id=ActionId.PUBLIC_REJECT, value=value, style="danger"),
                ],
            )
        )
    line = f"{state_line(post)} · words `{post.text_hash[:HASH_SHOWN]}`"
    blocks.append(ContextBlock(block_id=BlockId.PUBLIC_STATE, elements=[MarkdownTextObject(text=truncate(line, 3000))]))
    return blocks


def state_line(post: PublicPost) -> str:
    by = user(post.decided_by) if post.decided_by else "nobody"
    edited = f" Edited by {user(post.edited_by)}." if post.edited_by else ""
    if post.status is PostStatus.PROPOSED:
        failed = f" :warning: The last try failed: {escape(post.reason)}" if post.reason else ""
        return f"Nothing is public until someone approves.{edited}{failed}"
    if post.status is PostStatus.APPROVED:
        return f":hourglass_flowing_sand: Approved by {by}: posting it now.{edited}"
    if post.status is PostStatus.PUBLISHED:
        where = link(post.shortlink, "see it") if post.shortlink else "on the status page"
        return f":white_check_mark: Posted on approval by {by}: {where}.{edited}"
    if post.status is PostStatus.REJECTED:
        return f":no_entry_sign: Rejected by {by}: nothing was made public.{edited}"
    return f":fast_forward: Not posted: {escape(post.reason or 'replaced before anyone decided')}."


def edit_modal(post: PublicPost, channel_id: str) -> View:
    """The post's words in a form; submitting it changes them (and their hash) but approves nothing."""
    return View(
        type="modal",
        callback_id=CallbackId.PUBLIC_EDIT,
        private_metadata=json.dumps({"post": post.id, "hash": post.text_hash, "channel": channel_id}),
        title=PlainTextObject(text="Edit the public post"),
        submit=PlainTextObject(text="Save"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text="Customers will read these words once someone approves them. Saving approves nothing."
                )
            ),
            InputBlock(
                block_id=BlockId.PUBLIC_NAME,
                label="Title",
                element=PlainTextInputElement(
                    action_id=ActionId.PUBLIC_NAME, initial_value=post.name[:NAME_LIMIT], max_length=NAME_LIMIT
                ),
            ),
            InputBlock(
                block_id=BlockId.PUBLIC_BODY,
                label=f"What the {post.phase.label.lower()} update says",
                element=PlainTextInputElement(
                    action_id=ActionId.PUBLIC_BODY,
                    multiline=True,
                    initial_value=post.body[:BODY_LIMIT],
                    max_length=BODY_LIMIT,
                ),
            ),
        ],
    )
