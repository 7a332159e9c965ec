"""Every action id and block id the bot puts into Slack, in one place."""

from __future__ import annotations

from enum import StrEnum


class CallbackId(StrEnum):
    DECLARE = "incident.declare"
    REJECT = "proposal.reject_reason"
    PUBLIC_EDIT = "public_post.edit"


class ActionId(StrEnum):
    INCIDENT_RESOLVE = "incident.resolve"
    DECLARE_VALUE = "value"
    INCIDENT_OPEN_PAGERDUTY = "incident.open_pagerduty"
    INCIDENT_OPEN_CHANNEL = "incident.open_channel"
    PROPOSAL_APPROVE = "proposal.approve"
    PROPOSAL_REJECT = "proposal.reject"
    PROPOSAL_DONE = "proposal.done"  # a manual runbook's task, done by a person
    REJECT_REASON = "reason"
    OFFER_APPROVE = "offer.approve"  # a budget offer: the recommended plan in an answer about an error budget
    OFFER_REJECT = "offer.reject"
    PUBLIC_APPROVE = "public_post.approve"  # a post for the public status page, with its exact words
    PUBLIC_EDIT = "public_post.edit"
    PUBLIC_REJECT = "public_post.reject"
    PUBLIC_NAME = "name"
    PUBLIC_BODY = "body"


class BlockId(StrEnum):
    CARD_HEADER = "incident_card.header"
    CARD_SUMMARY = "incident_card.summary"
    CARD_FIELDS = "incident_card.fields"
    CARD_BUDGET = "incident_card.budget"
    CARD_ACTIONS = "incident_card.actions"
    CARD_CONTEXT = "incident_card.context"
    ANNOUNCEMENT = "incident_announcement"
    DECLARE_TITLE = "declare.title"
    DECLARE_SERVICE = "declare.service"
    DECLARE_SEVERITY = "declare.severity"
    DECLARE_DESCRIPTION = "declare.description"
    TRIAGE = "triage"
    FINDINGS = "findings"
    FINDINGS_CONTEXT = "findings.context"
    TRIAGE_CONTEXT = "triage.context"
    PROPOSAL = "proposal"
    PROPOSAL_FIELDS = "proposal.fields"
    PROPOSAL_POLICY = "proposal.policy"
    PROPOSAL_ACTIONS = "proposal.actions"
    PROPOSAL_STATE = "proposal.state"
    REJECT_REASON = "proposal.reject_reason"
    OFFER = "offer"
    OFFER_POLICY = "offer.policy"
    OFFER_ASK = "offer.ask"
    OFFER_ACTIONS = "offer.actions"
    OFFER_STATE = "offer.state"
    PUBLIC_POST = "public_post"
    PUBLIC_WORDS = "public_post.words"
    PUBLIC_ACTIONS = "public_post.actions"
    PUBLIC_STATE = "public_post.state"
    PUBLIC_NAME = "public_post.name"
    PUBLIC_BODY = "public_post.body"
    VERIFIED = "verified"
    VERIFIED_ACTIONS = "verified.actions"
    HOME_MINE = "home.mine"
    HOME_ALL = "home.all"
    HOME_BUDGETS = "home.budgets"
    HOME_FOOTER = "home.footer"
    LIST_HEADER = "incident_list.header"
    LIST_ITEM = "incident_list.item"
    LIST_MORE = "incident_list.more"
    LIST_EMPTY = "incident_list.empty"
