"""After a restart: carry out what was approved and not yet started; look again at what was running; arm again an
expiry or a verification check that was lost (a verification's window starts again)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.domain.approval import Status
from bot.domain.phase import Phase
from bot.domain.runbooks import Runbook
from bot.ports.clock import Clock
from bot.remediation.config import EXPIRE, VERIFY
from bot.remediation.executing import Executor
from bot.remediation.verifying import Verifier, checked
from bot.runtime.background import Background
from bot.runtime.scheduler import Scheduler
from bot.store import Store

__all__ = ["resume"]


async def resume(
    *,
    store: Store,
    clock: Clock,
    scheduler: Scheduler,
    runbooks: Mapping[str, Runbook],
    executor: Executor,
    verifier: Verifier,
    background: Background,
) -> None:
    expiring = {int(t.payload.get("proposal", 0)) for t in await store.pending_timers(EXPIRE)}
    for waiting in await store.proposals(statuses=(Status.PROPOSED,)):
        if waiting.id not in expiring:  # its timer was lost (fired as the process stopped): set it again
            await scheduler.at(
                EXPIRE, waiting.expires_at, incident_id=waiting.incident_id, payload={"proposal": waiting.id}
            )
    checking = {int(t.payload.get("proposal", 0)) for t in await store.pending_timers(VERIFY)}
    for proposal in await store.proposals(statuses=(Status.EXECUTED,)):
        runbook = runbooks.get(proposal.plan.runbook)
        if proposal.id in checking or runbook is None or runbook.verification is None or proposal.plan.manual:
            continue
        incident = await store.incident(proposal.incident_id)
        if incident is None or incident.phase is not Phase.VERIFYING:
            continue
        if checked(await store.timeline(proposal.incident_id), proposal.id):
            continue
        await verifier.check_after(incident, proposal.id, runbook.verification.interval_s, clock.now())
    for proposal in await store.proposals(statuses=(Status.APPROVED, Status.EXECUTING)):
        if proposal.plan.manual:
            continue
        if proposal.status is Status.APPROVED:
            background.spawn(executor.execute(proposal.id), name=f"execute proposal {proposal.id}")
        else:
            background.spawn(executor.look_again(proposal), name=f"follow proposal {proposal.id}")
