"""Remediation: from what the agents found to a runbook's exact plan, a human decision, one execution by delegation,
a verification of the signals, and an escalation when any of it does not work.

- `proposing`: a proposal is posted with Approve / Reject bound to the plan's hash; it expires on a durable timer.
  No plan left: a plain request for a person.
- `approvers`: who may decide (on call for the service, at every level, and the configured approvers).
- `deciding`: a click counts only through `bot.domain.approval.decide`, written with a conditional update (the
  proposal's version), under the incident's lock: of twenty clicks at once one counts, the others are told why not.
- `executing`: execution starts once (`Store.claim_execution`, a conditional state change) and is done by the
  runbook's kind of agent over A2A. When that agent's own approval gate asks for input, it is answered once, with the
  decision recorded for this exact plan (its hash, who approved, when), and nothing else.
- `verifying`: the signal is asked again on the runbook's interval (durable timers) until it holds for its window.
- `failing`: a failed or timed-out action, or a verification that does not hold: the channel is told, the pager
  escalates to the next level with a note, the next on-call is invited, and the next proposal (or a plain request
  for help) follows.
- `resuming`: after a restart, what was approved is carried out, what was running is looked at again, a lost check
  is armed again. `board`: each proposal's message, redrawn as its state changes.

Every proposal, decision, refusal, execution and verification is a timeline event on the incident's hash chain.
"""
