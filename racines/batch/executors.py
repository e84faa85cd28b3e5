"""Where batch tasks run: local worker processes (default) or a Ray cluster.

Both executors run :func:`racines.batch.task.run_shot`, one task per shot, and hand back
:class:`~racines.batch.task.Outcome` values; the scheduler in :mod:`racines.batch.run` decides
what runs when and what is retried. Takes of different shots are written to different
folders and each appears by an atomic rename, so tasks can run side by side safely.
"""

from __future__ import annotations

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
from dataclasses import dataclass
from pathlib import Path

from racines.batch.task import Outcome, ShotTask, TaskLog, run_shot
from racines.core.identity import cpu_cores
from racines.errors import UsageError
from racines.film.model import Film
from racines.generators import get_generator

EXECUTORS = ("local", "ray")


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
    results: multiprocessing.connection.Connection
    task: ShotTask
    gpu: str | None


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when the batch process dies (even by SIGKILL), so that
    no orphan keeps rendering a shot that the next batch will render again."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 is PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the batch died before prctl took effect
        os._exit(1)


def _worker_main(results, film: Film, task: ShotTask, gpu: str | None, parent: int) -> None:
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the batch handles Ctrl-C and stops its workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu     # one GPU per worker, before anything touches CUDA
    results.send(run_shot(film, task))
    results.close()
    # leave now: the take and its log are complete, and a thread a generator's library left
    # running must not keep the worker (and the batch that joins it) alive
    os._exit(0)


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
    """One worker process per task, up to ``jobs`` at once: one per GPU on a GPU machine (each
    pinned to its GPU), else one per CPU core. A process per task isolates crashes: a shot
    that segfaults or is killed for memory takes only its own process down."""

    name = "local"

    def __init__(self, jobs: int | None = None):
        self.gpus = visible_gpus()
        if jobs is not None and jobs < 1:
            raise UsageError(f"--jobs must be at least 1 (got {jobs})")
        self.slots = jobs or len(self.gpus) or cpu_cores()
        # fork: the worker starts at once with everything imported and the film in memory
        self._context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self._workers: dict[multiprocessing.connection.Connection, _Worker] = {}

    def describe(self) -> str:
        unit = f"GPU{'s' if len(self.gpus) != 1 else ''} {', '.join(self.gpus)}" if self.gpus else "CPU"
        return f"local executor, {self.slots} worker process{'es' if self.slots != 1 else ''} ({unit})"

    def running(self) -> int:
        return len(self._workers)

    def start(self, film: Film, task: ShotTask) -> None:
        if self._context.get_start_method() == "fork":
            _preload(film, task.shot_id)
        # the least busy GPU: one worker each, unless --jobs asks for more workers than GPUs
        busy = [w.gpu for w in self._workers.values()]
        gpu = min(self.gpus, key=busy.count) if self.gpus else None
        results, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_worker_main, args=(sender, film, task, gpu, os.getpid()),
                                        name=f"racines batch {task.shot_id}")
        process.start()
        sender.close()  # the worker holds the only write end: EOF means it is gone
        self._workers[results] = _Worker(process, results, task, gpu)

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
            results.close()
            worker.process.join()
            if outcome is None:
                code = worker.process.exitcode
                died = describe_signal(-code) if code is not None and code < 0 else f"exit status {code}"
                outcome = Outcome(worker.task.shot_id, worker.task.attempt, False, error_type="WorkerDied",
                                  error=f"the worker process (pid {worker.process.pid}) died without a result: "
                                        f"{died}", exit_signal=-code if code is not None and code < 0 else None)
            outcomes.append(outcome)
        return outcomes

    def close(self, wait: bool = True) -> None:
        """Stop workers still running (the batch is interrupted): their takes stay unfinished,
        in staging folders that the next run sweeps."""
        for worker in self._workers.values():
            worker.process.kill()
        for worker in self._workers.values():
            worker.process.join()
            worker.results.close()
        self._workers.clear()


class RayExecutor:
    """One Ray task per shot (``num_gpus=1`` each where the cluster has GPUs). Ray's own task
    retries are off: the batch's retry policy decides, the same way for both executors.
    Outputs go to the project folder, which every node must mount at the same path."""

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
        self._remote = ray.remote(num_cpus=1, num_gpus=1 if self.gpus else 0, max_retries=0,
                                  retry_exceptions=False)(run_shot)
        self._pending: dict[object, ShotTask] = {}
        self._films: dict[int, tuple[Film, object]] = {}
        self._stopping: threading.Thread | None = None

    def describe(self) -> str:
        where = f"cluster at {self._address}" if self._address else "local instance"
        unit = f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}, one per task" if self.gpus else "CPU"
        return f"ray executor ({where}, {self.slots} task{'s' if self.slots != 1 else ''} at once, {unit})"

    def running(self) -> int:
        return len(self._pending)

    def start(self, film: Film, task: ShotTask) -> None:
        if id(film) not in self._films:  # the film goes to the object store once per batch
            self._films[id(film)] = (film, self._ray.put(film))
        self._pending[self._remote.remote(self._films[id(film)][1], task)] = task

    def wait(self, timeout: float | None) -> list[Outcome]:
        if not self._pending:
            return []
        ready, _ = self._ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self._ray.wait(list(self._pending), num_returns=len(self._pending), timeout=0)
        outcomes = []
        for ref in ready:
            task = self._pending.pop(ref)
            try:
                outcomes.append(self._ray.get(ref))
            except self._ray.exceptions.RayError as exc:
                # the task did not return: its worker or node died, or it could not even start there
                cause = getattr(exc, "cause", None)
                error_type = type(cause).__name__ if isinstance(cause, BaseException) else type(exc).__name__
                outcomes.append(Outcome(task.shot_id, task.attempt, False, error_type=error_type,
                                        error=str(exc).strip().splitlines()[-1] if str(exc).strip() else error_type))
        return outcomes

    def close(self, wait: bool = True) -> None:
        """Cancel what still runs and stop the local instance this batch started. Stopping it
        takes over a second; with ``wait=False`` that happens beside what the batch does next,
        and a later ``close()`` waits for it."""
        for ref in self._pending:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort while stopping
                pass
        self._pending.clear()
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

