"""Where batch tasks run: local worker processes (default) or a Ray cluster.

Both executors run :func:`racines.batch.task.run_shot`, one task per shot, in long-lived
workers (a process per slot locally, an actor per slot on Ray) that keep their pipelines
resident between shots, and hand back :class:`~racines.batch.task.Outcome` values; the
scheduler in :mod:`racines.batch.run` decides what runs when (each model's shots to the
worker that holds it: :func:`racines.batch.plan.startable`) and what is retried. Takes of different shots are written to different
folders and each appears by an atomic rename, so tasks can run side by side safely.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from racines.batch.plan import models_of, startable
from racines.batch.task import Outcome, ShotTask, TaskLog, run_shot
from racines.core.identity import cpu_cores
from racines.errors import UsageError
from racines.film.model import Film
from racines.generators import get_generator
from racines.generators.diffusion.memory import allocator_settings

EXECUTORS = ("local", "ray")
STOP_S = 10.0  # how long a worker told to stop may take before it is killed


def visible_gpus() -> list[str]:
    """The NVIDIA GPUs this process may use, found without importing torch: a CUDA context
    made in the batch process would not survive the fork of a worker."""
    chosen = os.environ.get("CUDA_VISIBLE_DEVICES")
    if chosen is not None:
        return [gpu.strip() for gpu in chosen.split(",") if gpu.strip() and gpu.strip() != "-1"]
    found = Path("/proc/driver/nvidia/gpus")
    if found.is_dir():
        return [str(index) for index in range(len(list(found.iterdir())))]
    # containers often hide /proc/driver/nvidia: ask the driver (NVML makes no CUDA context), then
    # nvidia-smi; without them a GPU machine would start one full pipeline per CPU core
    count = _nvml_count()
    if count is None:
        count = _nvidia_smi_count()
    return [str(index) for index in range(count or 0)]


def _nvml_count() -> int | None:
    try:
        import pynvml  # nvidia-ml-py, optional
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no driver (NVMLError), or a broken install: not a GPU machine
        return None


def _nvidia_smi_count() -> int | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sum(line.startswith("GPU ") for line in listed.splitlines())  # MIG lines are indented


def describe_signal(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    hint = ": perhaps the kernel's out-of-memory killer (see dmesg)" if number == signal.SIGKILL else ""
    return f"{name}{hint}"


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    results: multiprocessing.connection.Connection  # tasks go one way, outcomes come back
    task: ShotTask | None  # the one it runs now; None while idle
    gpu: str | None      # CUDA_VISIBLE_DEVICES for the worker ("": none visible); None leaves it as it is
    on_gpu: bool = False  # in a GPU slot
    film: Film | None = None  # the film it was forked with
    recent: list[frozenset[str]] = field(default_factory=list)  # models of its last shots: what it holds

    @property
    def holds(self) -> frozenset[str]:
        return frozenset().union(*self.recent) if self.recent else frozenset()


#: the shots whose models a worker is taken to hold still (its resident pipelines: two on a CPU)
HELD_SHOTS = 2


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when the batch process dies (even by SIGKILL), so that
    no orphan keeps rendering a shot that the next batch will render again."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 is PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the batch died before prctl took effect
        os._exit(1)


def _worker_main(results, film: Film, gpu: str | None, parent: int) -> None:
    """A long-lived worker: it runs the tasks the batch sends until told to stop (None) or the
    batch closes its end, keeping its pipelines resident from one shot to the next."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the batch handles Ctrl-C and stops its workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu     # one GPU per worker, before anything touches CUDA
    allocator_settings()  # expandable segments, before torch initialises CUDA (unless the user chose)
    while True:
        try:
            task = results.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        results.send(run_shot(film, task))
    results.close()
    # leave now: the takes and their logs are complete, and a thread a generator's library left
    # running must not keep the worker (and the batch that joins it) alive
    os._exit(0)


def runs_on_gpu(film: Film, shot_id: str) -> bool:
    """True for a shot whose generator loads model weights (a diffusion pipeline): it takes a GPU
    slot. Weightless kinds (kenburns, morph, still, credits) take a CPU slot."""
    return bool(getattr(get_generator(film.shots[shot_id].kind), "runs_on_gpu", False))


def _preload(film: Film, shot_id: str) -> None:
    """Import what the shot's generator loads when it draws, here in the batch process: forked
    workers then share it instead of each importing it again (torch alone takes over a second).
    Importing torch starts no CUDA context, so workers can still use their own GPUs."""
    try:
        for module in get_generator(film.shots[shot_id].kind).runtime_modules:
            importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a broken install fails in the shot's worker, for that shot only
        pass


class LocalExecutor:
    """Worker processes in two kinds of slot. Shots that load model weights get one
    worker per GPU, each pinned to its GPU by ``CUDA_VISIBLE_DEVICES`` (one at a time on a machine
    without a GPU: each loads a whole pipeline and uses every core). Weightless shots run at the
    same time on CPU slots, one per core left over (the GPU workers' feeding and encoding keep a
    core each busy), with the GPUs hidden from them. ``jobs`` caps the workers of both kinds
    together. Workers live for the whole batch, each keeping its pipelines resident from shot to
    shot, and take the shots whose models they hold (:meth:`startable`). A worker is a process of
    its own, so a shot that segfaults or is killed for memory takes down only that worker and
    fails only that shot: the slot's next task gets a fresh worker."""

    name = "local"

    def __init__(self, jobs: int | None = None):
        self.gpus = visible_gpus()
        if jobs is not None and jobs < 1:
            raise UsageError(f"--jobs must be at least 1 (got {jobs})")
        self.gpu_slots = len(self.gpus) or 1
        self.cpu_slots = max(1, cpu_cores() - len(self.gpus))
        self.slots = min(jobs, self.gpu_slots + self.cpu_slots) if jobs else self.gpu_slots + self.cpu_slots
        # fork: the worker starts at once with everything imported and the film in memory
        self._context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self._workers: dict[multiprocessing.connection.Connection, _Worker] = {}  # running a task
        self._idle: list[_Worker] = []  # alive, waiting for the next task with their pipelines loaded
        self._exit_hook = False

    def describe(self) -> str:
        unit = f"GPU{'s' if len(self.gpus) != 1 else ''} {', '.join(self.gpus)}" if self.gpus else "no GPU"
        return (f"local executor, up to {self.slots} worker process{'es' if self.slots != 1 else ''}: "
                f"{self.gpu_slots} for model weights ({unit}), {self.cpu_slots} for weightless shots (CPU)")

    def admits(self, film: Film, shot_id: str) -> bool:
        """Whether a slot of the shot's kind is free now (the scheduler also keeps to ``slots``)."""
        gpu = runs_on_gpu(film, shot_id)
        busy = sum(worker.on_gpu == gpu for worker in self._workers.values())
        return len(self._workers) < self.slots and busy < (self.gpu_slots if gpu else self.cpu_slots)

    def running(self) -> int:
        return len(self._workers)

    def startable(self, film: Film, shot_ids: list[str]) -> list[str]:
        """The shots to start now, best first: see :func:`racines.batch.plan.startable`."""
        live = [*self._idle, *self._workers.values()]
        return startable(shot_ids, {s: models_of(film.shots[s]) for s in shot_ids},
                         [w.holds for w in self._idle if w.on_gpu], [w.holds for w in live if w.on_gpu and w.task])

    def start(self, film: Film, task: ShotTask) -> None:
        """Send the task to an idle worker of its kind, the one that holds the shot's models if
        any; fork a worker when none is idle (the first task of a slot, or after a crash)."""
        on_gpu = runs_on_gpu(film, task.shot_id)
        models = frozenset(models_of(film.shots[task.shot_id]))
        worker = self._idle_worker(film, on_gpu, models)
        while True:
            if worker is None:
                worker = self._fork(film, task, on_gpu)
            try:
                worker.results.send(task)
                break
            except OSError:  # it died while idle: a fresh one takes the task
                self._stop(worker)
                worker = None
        worker.task = task
        worker.recent = (worker.recent + [models])[-HELD_SHOTS:] if models else worker.recent
        self._workers[worker.results] = worker

    def _idle_worker(self, film: Film, on_gpu: bool, models: frozenset[str]) -> _Worker | None:
        for worker in list(self._idle):
            if worker.film is not film or not worker.process.is_alive():  # another film, or gone
                self._idle.remove(worker)
                self._stop(worker)
        mine = [w for w in self._idle if w.on_gpu == on_gpu]
        if not mine:
            return None
        # the most of the shot's models held; else the worker holding least (nothing to evict)
        worker = max(mine, key=lambda w: (len(models & w.holds), -len(w.holds)))
        live = sum(w.on_gpu == on_gpu for w in [*self._idle, *self._workers.values()])
        if not models & worker.holds and worker.holds and live < (self.gpu_slots if on_gpu else self.cpu_slots):
            return None  # a free slot: a new worker loads these models; the idle one keeps its own
        self._idle.remove(worker)
        return worker

    def _fork(self, film: Film, task: ShotTask, on_gpu: bool) -> _Worker:
        if self._context.get_start_method() == "fork":
            _preload(film, task.shot_id)
        gpu = None
        if on_gpu and self.gpus:  # the GPU with fewest workers: one each, unless --jobs asks for more
            used = [w.gpu for w in [*self._idle, *self._workers.values()] if w.on_gpu]
            gpu = min(self.gpus, key=used.count)
        elif self.gpus:
            gpu = ""  # a weightless shot never makes a CUDA context on a GPU that a pipeline needs
        results, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_worker_main, args=(theirs, film, gpu, os.getpid()),
                                        name=f"racines batch worker ({'GPU ' + gpu if gpu else 'CPU'})")
        process.start()
        theirs.close()  # the worker holds the only other end: EOF means it is gone
        if not self._exit_hook:
            atexit.register(self.close)  # idle workers wait for tasks: never leave them behind
            self._exit_hook = True
        return _Worker(process, results, None, gpu, on_gpu, film)

    def wait(self, timeout: float | None) -> list[Outcome]:
        if not self._workers:
            return []
        outcomes = []
        for results in multiprocessing.connection.wait(list(self._workers), timeout):
            worker = self._workers.pop(results)
            try:
                outcome = results.recv()
            except (EOFError, OSError):
                outcome = None
            if outcome is not None:
                worker.task = None
                self._idle.append(worker)  # it keeps its pipelines for the next shot
                outcomes.append(outcome)
                continue
            # a crash fails only the shot it was on; the next task of the slot gets a fresh worker
            task = worker.task
            self._stop(worker)
            code = worker.process.exitcode
            died = describe_signal(-code) if code is not None and code < 0 else f"exit status {code}"
            outcomes.append(Outcome(task.shot_id, task.attempt, False, error_type="WorkerDied",
                                    error=f"the worker process (pid {worker.process.pid}) died without a result: "
                                          f"{died}", exit_signal=-code if code is not None and code < 0 else None))
        return outcomes

    @staticmethod
    def _stop(worker: _Worker, kill: bool = False) -> None:
        if kill:
            worker.process.kill()
        else:
            try:
                worker.results.send(None)
            except OSError:
                pass
        worker.results.close()
        worker.process.join(STOP_S)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()

    def close(self, wait: bool = True) -> None:
        """Stop the workers: idle ones leave (their pipelines with them); those still running
        (the batch is interrupted) are killed, and their takes stay unfinished, in staging
        folders that the next run sweeps."""
        for worker in self._workers.values():
            worker.process.kill()
        for worker in self._workers.values():
            self._stop(worker, kill=True)
        for worker in self._idle:
            self._stop(worker)
        self._workers.clear()
        self._idle.clear()
        if self._exit_hook:
            atexit.unregister(self.close)
            self._exit_hook = False


class ShotWorker:
    """A Ray actor that renders shots of one film, keeping its pipelines resident between them."""

    def __init__(self, film: Film):
        self.film = film

    def run(self, task: ShotTask) -> Outcome:
        return run_shot(self.film, task)


@dataclass
class _Actor:
    handle: object
    film: int                  # id() of the film it holds
    task: ShotTask | None = None
    recent: list[frozenset[str]] = field(default_factory=list)

    @property
    def holds(self) -> frozenset[str]:
        return frozenset().union(*self.recent) if self.recent else frozenset()


class RayExecutor:
    """Long-lived Ray actors, one per slot (``num_gpus=1`` each where the cluster has GPUs: an
    actor per GPU), each keeping its pipelines resident and taking the shots whose models it
    holds. Ray's own task retries and actor restarts are off: the batch's retry policy decides,
    the same way for both executors; an actor that dies fails only the shot it was on, and the
    slot's next task gets a fresh actor. Outputs go to the project folder, which every node must
    mount at the same path."""

    name = "ray"

    def __init__(self, address: str | None = None, jobs: int | None = None):
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray, which is not installed\n    fix: pip install "
                             "'racines[ray]' (on every machine of the cluster)") from None
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": False}
            try:
                if address:
                    ray.init(address=address, **options)
                else:
                    ray.init(num_cpus=jobs, **options)  # a local instance for this batch only
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(f"cannot start or reach Ray at {address or 'a new local instance'}: {exc}\n"
                                 "    fix: start the head node with `ray start --head` and pass its address "
                                 "(e.g. --address 10.0.0.5:6379), or leave out --address") from None
            self._owned = True
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.slots = jobs or self.gpus or max(1, int(resources.get("CPU", 1)))
        self._address = address
        self._actor_class = ray.remote(num_cpus=1, num_gpus=1 if self.gpus else 0, max_restarts=0,
                                       max_task_retries=0)(ShotWorker)
        self._pending: dict[object, _Actor] = {}  # running task -> its actor
        self._idle: list[_Actor] = []
        self._films: dict[int, tuple[Film, object]] = {}
        self._stopping: threading.Thread | None = None

    def describe(self) -> str:
        where = f"cluster at {self._address}" if self._address else "local instance"
        unit = f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}, an actor per GPU" if self.gpus else "CPU"
        return f"ray executor ({where}, {self.slots} task{'s' if self.slots != 1 else ''} at once, {unit})"

    def running(self) -> int:
        return len(self._pending)

    def admits(self, film: Film, shot_id: str) -> bool:
        return len(self._pending) < self.slots  # Ray places each task by its resources (num_gpus)

    def startable(self, film: Film, shot_ids: list[str]) -> list[str]:
        """The shots to start now, best first: see :func:`racines.batch.plan.startable`."""
        return startable(shot_ids, {s: models_of(film.shots[s]) for s in shot_ids},
                         [a.holds for a in self._idle], [a.holds for a in self._pending.values()])

    def start(self, film: Film, task: ShotTask) -> None:
        if id(film) not in self._films:  # the film goes to the object store once per batch
            self._films[id(film)] = (film, self._ray.put(film))
        models = frozenset(models_of(film.shots[task.shot_id]))
        for actor in [a for a in self._idle if a.film != id(film)]:
            self._idle.remove(actor)
            self._ray.kill(actor.handle, no_restart=True)
        actor = max(self._idle, key=lambda a: (len(models & a.holds), -len(a.holds)), default=None)
        if actor is not None and not models & actor.holds and actor.holds and \
                len(self._idle) + len(self._pending) < self.slots:
            actor = None  # a free slot: a new actor loads these models; the idle one keeps its own
        if actor is None:
            actor = _Actor(self._actor_class.remote(self._films[id(film)][1]), id(film))
        else:
            self._idle.remove(actor)
        actor.task = task
        actor.recent = (actor.recent + [models])[-HELD_SHOTS:] if models else actor.recent
        self._pending[actor.handle.run.remote(task)] = actor

    def wait(self, timeout: float | None) -> list[Outcome]:
        if not self._pending:
            return []
        ready, _ = self._ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self._ray.wait(list(self._pending), num_returns=len(self._pending), timeout=0)
        outcomes = []
        for ref in ready:
            actor = self._pending.pop(ref)
            task, actor.task = actor.task, None
            try:
                outcomes.append(self._ray.get(ref))
                self._idle.append(actor)  # it keeps its pipelines for the next shot
            except self._ray.exceptions.RayError as exc:
                # the task did not return: its actor or node died, or it could not even start there;
                # the slot's next task gets a fresh actor
                self._ray.kill(actor.handle, no_restart=True)
                cause = getattr(exc, "cause", None)
                error_type = type(cause).__name__ if isinstance(cause, BaseException) else type(exc).__name__
                outcomes.append(Outcome(task.shot_id, task.attempt, False, error_type=error_type,
                                        error=str(exc).strip().splitlines()[-1] if str(exc).strip() else error_type))
        return outcomes

    def close(self, wait: bool = True) -> None:
        """Stop the actors (what still runs is killed with them) and the local instance this
        batch started. Stopping it takes over a second; with ``wait=False`` that happens beside
        what the batch does next, and a later ``close()`` waits for it."""
        for actor in [*self._pending.values(), *self._idle]:
            try:
                self._ray.kill(actor.handle, no_restart=True)
            except Exception:  # noqa: BLE001 - best effort while stopping
                pass
        self._pending.clear()
        self._idle.clear()
        if self._owned:
            self._owned = False
            self._stopping = threading.Thread(target=self._ray.shutdown, name="racines: stopping Ray")
            self._stopping.start()
        if wait and self._stopping is not None:
            self._stopping.join()
            self._stopping = None


def make_executor(name: str, jobs: int | None = None, address: str | None = None):
    if name == "local":
        if address:
            raise UsageError("--address is for --executor ray only")
        return LocalExecutor(jobs)
    if name == "ray":
        return RayExecutor(address, jobs)
    raise UsageError(f"unknown executor {name!r}; use one of {', '.join(EXECUTORS)}")


def note_in_log(path: Path, text: str) -> None:
    """A line in a shot's log written by the batch itself (e.g. when the worker died)."""
    log = TaskLog(path)
    try:
        log.line(text)
    finally:
        log.close()

