"""The nightly batch: lock, plan, render the stale shots, then the timeline, the EDL and the film,
and leave the dailies for the morning.

Phases (each one only after the previous is done):

1. lock ``renders/.batch.lock`` (wait or refuse), load and validate the project, consent;
2. plan the stale shots with :func:`racines.pipeline.film_status`;
3. run one task per stale shot on the executor's long-lived workers, keyframes first, then
   the video pass, each model's shots to the worker that holds it (longest first); a failed attempt goes
   through the retry policy (:mod:`racines.batch.policy`) and never stops the other shots;
4. check the shots made from the other takes (the credits card) and run those;
5. the timeline, the EDL and the film, when every shot of the cut has a take;
6. ``renders/dailies/DATE/index.html`` and ``summary.json``.

Everything the batch makes is cached by content (takes by cache key, film pieces by what
they show), so a batch killed at any point resumes on the next run without redoing what
was finished.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from racines import pipeline
from racines.batch import report
from racines.batch.executors import make_executor, note_in_log
from racines.batch.plan import Plan, check_dependent, make_plan, profile_note
from racines.batch.policy import FIXES, Decision, RetryPolicy, decide
from racines.batch.task import ShotTask, TaskLog
from racines.core.atomic import sweep_partials
from racines.core.identity import cpu_cores, machine
from racines.core.lock import project_lock
from racines.errors import ExitCode, RacinesError
from racines.film.model import Film
from racines.takes.resolve import Resolver
from racines.takes.store import TakeStore

DAILIES_DIR = Path("renders") / "dailies"
POLL_S = 0.2  # how often the scheduler looks up from waiting on the workers


@dataclass(frozen=True)
class BatchOptions:
    profile: str = "final"
    executor: str = "local"
    address: str | None = None
    jobs: int | None = None
    wait_s: float = 0.0
    policy: RetryPolicy = RetryPolicy()
    skip_unconsented: bool = False
    review: bool = True


@dataclass
class ShotRecord:
    """What the batch did with one shot of the cut; the dailies are written from these."""

    shot_id: str
    kind: str
    frames: int
    before: str                         # its state when the batch began (racines status)
    reasons: list[str] = field(default_factory=list)
    state: str = "pending"              # made | up to date | failed | blocked | unconsented | interrupted
    version: str | None = None          # the take this batch made or found for the shot
    attempts: int = 0
    seconds: float = 0.0                # wall time of all its attempts
    peak_gpu_bytes: int | None = None
    error: str = ""
    error_kind: str = ""
    fix: str = ""
    host: str = ""


@dataclass
class FilmRecord:
    state: str = "not rendered"         # rendered | unchanged | not rendered | failed
    detail: str = ""
    edl_written: list[str] = field(default_factory=list)
    pieces_encoded: int = 0
    frames: int = 0


@dataclass
class BatchResult:
    exit_code: int
    dailies: Path | None
    shots: dict[str, ShotRecord]
    film: FilmRecord


Echo = Callable[[str], None]


class StopOnSignal:
    """SIGINT and SIGTERM while the batch holds its lock: the first asks it to stop at the next
    safe point (at once between tasks, when the workers are killed; after the film when one is
    being rendered), a second one stops at once. An exception raised from a signal handler at an
    arbitrary point (inside a fork's handlers, say) can leave a lock held and hang the batch."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


def run_batch(root: Path, options: BatchOptions, echo: Echo = print) -> BatchResult:
    """Run the batch on the project at ``root``; return its exit code and where the dailies are.

    Raises :class:`~racines.errors.BatchBusy` when another batch holds the lock, the
    validation errors of the project (after writing them to the dailies), and
    KeyboardInterrupt (after stopping the workers and writing the dailies).
    """
    root = Path(root).resolve()
    started = datetime.now().astimezone()
    with project_lock(root, options.wait_s, echo), StopOnSignal() as stop:
        folder = root / DAILIES_DIR / started.strftime("%Y-%m-%d")
        context = report.Context(root=root, folder=folder, started=started, machine=machine(),
                                 profile=options.profile)
        try:
            # the shapes of final: blocks are checked here; a missing model fails its shot only
            film = pipeline.load(root, options.profile, models=False)
            context.profile_note = profile_note(film, options.profile)
            cut = film.cut  # the dailies list every shot of the cut, unconsented ones included
            film, skipped = pipeline.consent_gate(film, options.skip_unconsented)
            plan = make_plan(film)
            executor = make_executor(options.executor, options.jobs, options.address)
        except RacinesError as exc:
            context.fatal = str(exc)
            report.write(context, None, {}, FilmRecord(detail="the batch stopped before any work"), exc.exit_code)
            echo(f"dailies: {(folder / report.INDEX).relative_to(root)}")
            raise
        try:
            return _run(film, cut, skipped, plan, executor, options, context, echo, stop)
        finally:
            executor.close()


def _run(film: Film, cut: tuple[str, ...], skipped, plan: Plan, executor, options: BatchOptions,
         context: report.Context, echo: Echo, stop: StopOnSignal) -> BatchResult:
    root, logs = film.root, context.folder / report.LOGS
    left_out = {shot.id: shot for shot in skipped}
    records = {}
    for shot_id in cut:
        shot = film.shots[shot_id]
        if shot_id in left_out:
            records[shot_id] = ShotRecord(shot_id, shot.kind, shot.frames, "unconsented", [
                f"consent is '{shot.source.consent}' for {shot.source.contributor}: left out of the film"],
                state="unconsented")
            continue
        state = plan.states[shot_id]
        records[shot_id] = ShotRecord(shot_id, shot.kind, shot.frames, state.state, list(state.reasons),
                                      state="up to date" if state.state == "up to date" else "pending")
    context.executor = executor.describe()
    film_record = FilmRecord()
    echo(f"batch: {film.title}: {len(film.cut)} shots in the cut, {len(plan.first)} to render"
         + (f", then {', '.join(plan.after)} from the other takes" if plan.after else "")
         + f"; {context.executor}; profile {options.profile}"
         + (f" ({context.profile_note})" if context.profile_note else ""))
    try:
        _execute(executor, film, list(plan.first), plan.keys, records, options, logs, echo, stop)
        keys = {}
        dependents = []
        for shot_id in plan.after:
            state, key, reasons = check_dependent(film, shot_id)
            record = records[shot_id]
            if state == "stale":
                keys[shot_id] = key
                dependents.append(shot_id)
                record.reasons = record.reasons or list(reasons)
            else:
                record.state = state
                record.reasons = list(reasons) if state == "blocked" else record.reasons
                echo(f"{state} {shot_id}" + (f": {reasons[0]}" if reasons else ""))
        _execute(executor, film, dependents, keys, records, options, logs, echo, stop)
        stop.check()
    except KeyboardInterrupt:
        executor.close()  # stop the workers before anything else: their takes stay unfinished
        store = TakeStore(film.root)
        for shot_id in (*plan.first, *plan.after):
            sweep_partials(store.shot_folder(shot_id))  # the killed workers' staging folders
        for record in records.values():
            if record.state == "pending":
                record.state = "interrupted"
        film_record.detail = "the batch was interrupted"
        report.write(context, film, records, film_record, ExitCode.INTERRUPTED)
        raise
    executor.close(wait=False)  # a local Ray instance stops while the film is encoded
    # the film is CPU work on this machine: as many pieces at once as --jobs, else as cores
    film_record = _film_phase(film, options, logs / "film.log", echo, options.jobs or cpu_cores())
    if stop.requested:  # asked to stop while the film was being rendered: it is finished, stop now
        report.write(context, film, records, film_record, ExitCode.INTERRUPTED)
        raise KeyboardInterrupt
    failed = [r for r in records.values() if r.state in ("failed", "blocked")]
    if failed or film_record.state in ("failed", "not rendered"):
        code = ExitCode.BATCH_PARTIAL
    elif not any(r.state == "made" for r in records.values()) and film_record.state == "unchanged" \
            and not film_record.edl_written:
        code = ExitCode.NOTHING_TO_DO
    else:
        code = ExitCode.OK
    index = report.write(context, film, records, film_record, code)
    echo(f"dailies: {index.relative_to(root)}")
    echo("batch: " + report.verdict(records, film_record, code))
    return BatchResult(code, index, records, film_record)


def _execute(executor, film: Film, shot_ids: list[str], keys: dict[str, str], records: dict[str, ShotRecord],
             options: BatchOptions, logs: Path, echo: Echo, stop: StopOnSignal) -> None:
    """Run the shots' tasks to the end: start what is due while a slot is free, retry what the
    policy says after its delay, and record every outcome."""
    order = {shot_id: index for index, shot_id in enumerate(shot_ids)}
    due = [(0.0, shot_id, 1) for shot_id in shot_ids]      # (not before, shot, attempt)
    started: dict[str, float] = {}
    while due or executor.running():
        stop.check()
        now = time.monotonic()
        ready = sorted((item for item in due if item[0] <= now), key=lambda item: order[item[1]])
        while ready:
            # one at a time: each start changes which worker holds which models (plan.startable)
            allowed = [s for s in executor.startable(film, [item[1] for item in ready])
                       if executor.admits(film, s)]  # a slot of its kind (GPU or CPU) is free
            if not allowed:
                break
            item = next(item for item in ready if item[1] == allowed[0])
            ready.remove(item)
            due.remove(item)
            _, shot_id, attempt = item
            shot = film.shots[shot_id]
            echo(f"start {shot_id} ({shot.kind}, {shot.frames} frames)" + (f", attempt {attempt}" if attempt > 1 else ""))
            started[shot_id] = time.monotonic()
            executor.start(film, ShotTask(shot_id, attempt, logs / f"{shot_id}.log", options.profile, executor.name))
        # wake for the next retry that comes due, a finished worker, or (at least every POLL_S) a stop request;
        # a due task still waiting for a slot wakes with the worker that frees one
        next_due = min((item[0] for item in due if item[0] > now), default=now + POLL_S)
        timeout = min(POLL_S, max(0.01, next_due - time.monotonic()))
        if not executor.running():
            time.sleep(timeout)
            continue
        for outcome in executor.wait(timeout):
            record = records[outcome.shot_id]
            record.attempts = outcome.attempt
            record.seconds += time.monotonic() - started.pop(outcome.shot_id)
            record.host = outcome.host or record.host
            if outcome.peak_gpu_bytes is not None:
                record.peak_gpu_bytes = max(record.peak_gpu_bytes or 0, outcome.peak_gpu_bytes)
            if outcome.ok:
                record.state = "made" if outcome.made else "up to date"
                record.version = outcome.version
                record.error = record.error_kind = record.fix = ""
                echo(f"{'made' if outcome.made else 'found'} {outcome.shot_id} {outcome.version} "
                     f"in {record.seconds:.1f} s")
                continue
            decision = decide(outcome.error_type or "", outcome.error, outcome.attempt, options.policy,
                              outcome.exit_signal)
            _note_failure(film, keys.get(outcome.shot_id), logs, outcome, decision)
            first_line = (outcome.error.strip().splitlines() or [outcome.error_type or "unknown error"])[0]
            if decision.retry:
                due.append((time.monotonic() + decision.delay_s, outcome.shot_id, outcome.attempt + 1))
                echo(f"retry {outcome.shot_id} in {decision.delay_s:g} s ({decision.reason}): {first_line}")
            else:
                record.state = "failed"
                record.error = f"{outcome.error_type}: {outcome.error}".strip()
                record.error_kind = decision.kind
                record.fix = FIXES[decision.kind]
                echo(f"failed {outcome.shot_id} ({decision.reason}): {first_line}")


def _note_failure(film: Film, key: str | None, logs: Path, outcome, decision: Decision) -> None:
    log = logs / f"{outcome.shot_id}.log"
    if not outcome.host:  # the worker died before it could write its own account: the batch does it
        note_in_log(log, f"batch: {outcome.error_type}: {outcome.error}")
    note_in_log(log, f"batch: {decision.reason}")
    if not decision.retry and key is not None:
        # for `racines status` (failed, and why) until a later take succeeds
        TakeStore(film.root).record_failure(outcome.shot_id, key, f"{outcome.error_type}: {outcome.error}")


def _film_phase(film: Film, options: BatchOptions, log_path: Path, echo: Echo, workers: int) -> FilmRecord:
    """The timeline, the EDL and the film, from the take each shot of the cut uses."""
    without = [s for s, take in Resolver(film).cut_takes().items() if take is None]
    if without:
        detail = f"no take yet for {', '.join(without)}"
        echo(f"film: not rendered: {detail}")
        return FilmRecord("not rendered", detail)
    log = TaskLog(log_path)
    record = FilmRecord()
    try:
        log.line(f"=== film: {film.title}, {len(film.cut)} shots, {film.width}x{film.height} at {film.rate_text} fps")
        echo("film: rendering the timeline, the EDL and the master" + (" and the review copy" if options.review else ""))
        started = time.perf_counter()
        made = pipeline.film_step(film, pipeline.FilmOptions(review=options.review, workers=workers),
                                  lambda event: log.line(event.text))
        result = made.deliverables
        log.line("takes: " + ", ".join(f"{s} {t.version}" for s, t in made.takes.items()))
        record.edl_written = [p.relative_to(film.root).as_posix() for p in made.written]
        echo("film: timeline and EDL " + (", ".join(record.edl_written) + " written" if made.written else "unchanged"))
        record.state = "unchanged" if result.unchanged else "rendered"
        record.pieces_encoded, record.frames = result.pieces_encoded, result.frames
        record.detail = (f"{result.frames} frames; {result.pieces_encoded} piece(s) encoded (the others reused) "
                         f"in {time.perf_counter() - started:.1f} s, {workers} at once") \
            if not result.unchanged else \
            f"{result.frames} frames, nothing changed"
        log.line(f"film {record.state}: {record.detail}")
        echo(f"film: {record.state} ({record.detail})")
    except Exception as exc:  # noqa: BLE001 - a failed film is reported in the dailies, takes stay
        record.state = "failed"
        record.detail = f"{type(exc).__name__}: {exc}" if not isinstance(exc, RacinesError) else str(exc)
        log.line(f"FAILED: {record.detail}")
        log.line(traceback.format_exc().rstrip())
        echo(f"film: failed: {record.detail.splitlines()[0]}")
    finally:
        log.close()
    return record
