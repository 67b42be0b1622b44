"""Build the core's rooms from the store and a render backend, by keyword, in one place.

`VideoService` (the adapters' façade) holds the `Rooms` this returns; tests reach a room through
`service.rooms` when they need one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.admin import AdminTools
from bot.core.admission import Admission
from bot.core.boards import GroupBoards
from bot.core.challenges import Challenges
from bot.core.commands import Commands
from bot.core.credentials import ClipChecker
from bot.core.delivery import Deliveries, Fitter
from bot.core.endings import Endings, RunningJobs
from bot.core.enhancing import Drafts, PromptRewriter
from bot.core.eta import Eta
from bot.core.events import RenderEvents
from bot.core.executors import Executors, UntrustedChecks
from bot.core.housekeeping import Housekeeping
from bot.core.jobs import JobRunner
from bot.core.models import Models
from bot.core.notify import Notifier
from bot.core.observe import Tally
from bot.core.pictures import PictureGate
from bot.core.ports import Clock, RenderBackend, WebLinks
from bot.core.progress import ProgressBoard
from bot.core.queue import JobQueue
from bot.core.tasks import Tasks
from bot.enhance import PromptWriter, WriterSlot
from bot.pipelines.spec import ClipIdentity
from bot.settings.root import Config
from bot.store import Store


@dataclass(eq=False)
class Rooms:
    """Every room of the core, wired to each other; one of each per bot."""

    executors: Executors
    untrusted_checks: UntrustedChecks
    tasks: Tasks
    tally: Tally  # counts for whoever listens (the web side's /metrics)
    notifier: Notifier
    queue: JobQueue
    running: RunningJobs
    models: Models
    endings: Endings
    runner: JobRunner
    eta: Eta
    boards: GroupBoards
    progress: ProgressBoard
    deliveries: Deliveries
    admission: Admission
    commands: Commands
    challenges: Challenges
    admin_tools: AdminTools
    housekeeping: Housekeeping
    events: RenderEvents
    check_clip: ClipChecker | None  # `/verify`'s Content Credentials check; None: verifying is off


def wire(
    config: Config,
    store: Store,
    backend: RenderBackend,
    *,
    fit: Fitter,
    stand_ins: Mapping[str, ClipIdentity] | None = None,
    clock: Clock = time.time,
    rng: random.Random | None = None,
    check_clip: ClipChecker | None = None,
    pictures: PictureGate | None = None,
    executors: Executors | None = None,
    links: WebLinks | None = None,
    writer: PromptRewriter | None = None,
) -> Rooms:
    """The rooms, each given what it uses by name, and subscribed to the backend's events.
    `writer`: the prompt writer made elsewhere (on the workers); None: `[enhance]`'s own, here."""
    if writer is None and config.enhance.mode != "off":
        writer = WriterSlot(PromptWriter(config.enhance))
    rng = rng or random.Random()
    executors = executors or Executors.sized(config.provenance)
    tasks, tally = Tasks(), Tally()
    untrusted_checks = UntrustedChecks(executors.untrusted, config.provenance)
    notifier, queue = Notifier(store), JobQueue(store)
    running = RunningJobs(backend.cancel)
    models = Models(config, store, stand_ins or {})
    endings = Endings(store=store, notifier=notifier, running=running)
    runner = JobRunner(
        store=store, queue=queue, backend=backend, running=running, endings=endings, tasks=tasks,
        clock=clock, max_model_wait_s=config.render.max_model_wait_s, recheck_s=config.queue.model_retry_s,
        models=models, model_missing_wait_s=config.queue.model_missing_wait_s,
    )  # fmt: skip
    eta = Eta(store=store, queue=queue, running=running)
    boards = GroupBoards(
        config=config.queue, store=store, notifier=notifier, queue=queue, running=running, tasks=tasks
    )
    progress = ProgressBoard(
        config=config.queue, notifier=notifier, running=running, tasks=tasks, boards=boards
    )
    deliveries = Deliveries(
        config=config.queue, store=store, notifier=notifier, endings=endings, progress=progress, queue=queue,
        tasks=tasks, fit=fit, clock=clock, boards=boards, tally=tally, model_label=models.label,
        pool=executors.delivery, extendable=models.extendable,
    )  # fmt: skip
    admission = Admission(
        config=config, store=store, notifier=notifier, queue=queue, eta=eta, backend=backend,
        wake=runner.wake, clock=clock, rng=rng, models=models, boards=boards, tally=tally, pictures=pictures,
        checks=untrusted_checks,
        writer=writer,
        drafts=Drafts(store=store, notifier=notifier, clock=clock),
    )  # fmt: skip
    commands = Commands(
        config=config, store=store, notifier=notifier, admission=admission, endings=endings, running=running,
        queue=queue, eta=eta, clock=clock, rng=rng, models=models, backend=backend, check_clip=check_clip,
    )  # fmt: skip
    deliveries.after_done = commands.follow_up
    runner.vet = admission.vet  # the face policy again, as each job with a picture starts
    challenges = Challenges(
        config=config, store=store, notifier=notifier, admission=admission, endings=endings, tasks=tasks,
        clock=clock, links=links,
    )  # fmt: skip
    housekeeping = Housekeeping(
        config=config, store=store, queue=queue, notifier=notifier, endings=endings, deliveries=deliveries,
        tasks=tasks, clock=clock, rearm_challenges=challenges.rearm,
    )  # fmt: skip
    events = RenderEvents()
    for room in (runner, eta, progress, deliveries):
        events.subscribe(room.on_event)
    return Rooms(
        executors=executors,
        untrusted_checks=untrusted_checks,
        tasks=tasks, tally=tally, notifier=notifier, queue=queue, running=running, models=models,
        endings=endings, runner=runner, eta=eta, boards=boards, progress=progress, deliveries=deliveries,
        admission=admission, commands=commands, challenges=challenges,
        admin_tools=AdminTools(store=store, config=config, endings=endings, clock=clock, models=models),
        housekeeping=housekeeping, events=events, check_clip=check_clip,
    )  # fmt: skip


__all__ = ["Rooms", "wire"]
