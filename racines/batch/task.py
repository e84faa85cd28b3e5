"""One batch task: make one shot's take, in whatever process or machine the executor chose.

A task never raises for a failure of the shot: it writes what happened to the shot's log
and returns an :class:`Outcome`, so that every executor reports failures the same way. It
writes only into the shared project folder: the take (staged and renamed by the store) and
its log file (appended, one header per attempt).
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from racines.core.process import tune_for_frames
from racines.film.model import Film
from racines.pipeline import derived_for
from racines.takes.cache import HashCache
from racines.takes.make import make_take
from racines.takes.store import TakeStore


@dataclass(frozen=True)
class ShotTask:
    shot_id: str
    attempt: int        # 1 for the first attempt
    log: Path           # absolute path of the shot's log file
    profile: str
    executor: str


@dataclass(frozen=True)
class Outcome:
    shot_id: str
    attempt: int
    ok: bool
    made: bool = False                 # a new take was generated (else the cached one was found)
    version: str | None = None
    seconds: float = 0.0
    peak_gpu_bytes: int | None = None
    error_type: str | None = None      # the exception's class name, for the retry policy
    error: str = ""                    # its message (and ``fix`` when the exception carries one)
    exit_signal: int | None = None     # the signal that killed the worker, when it died
    host: str = ""


class TaskLog:
    """Timestamped lines appended to the shot's log; one file per shot and batch day."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8", buffering=1)  # line-buffered: a killed task keeps its lines

    def line(self, text: str) -> None:
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        for part in text.splitlines() or [""]:
            self._file.write(f"{stamp} {part}\n")

    def close(self) -> None:
        self._file.close()


class _GpuMeter:
    """Peak GPU memory of this process's torch allocations, when a generator used CUDA.

    torch is never imported here for the purpose: a weightless generator leaves it out, and
    then the peak is unknown (None)."""

    def __init__(self) -> None:
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_initialized():
            torch.cuda.reset_peak_memory_stats()  # a reused worker (Ray) measures this task only

    @staticmethod
    def peak() -> int | None:
        torch = sys.modules.get("torch")
        if torch is None or not torch.cuda.is_initialized():
            return None
        return int(max(torch.cuda.max_memory_allocated(d) for d in range(torch.cuda.device_count())))


def run_shot(film: Film, task: ShotTask) -> Outcome:
    """Make (or find) the take of ``task.shot_id``; never raises for the shot's own failure."""
    tune_for_frames()  # a Ray worker is not started by racines' command line
    started = time.perf_counter()
    host = socket.gethostname()
    log = TaskLog(task.log)
    try:
        shot = film.shots[task.shot_id]
        log.line(f"=== {task.shot_id} attempt {task.attempt}: {shot.kind}, {shot.frames} frames at "
                 f"{film.width}x{film.height}; profile {task.profile}; {task.executor} executor on {host}, "
                 f"pid {os.getpid()}" + (f", CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}"
                                         if "CUDA_VISIBLE_DEVICES" in os.environ else ""))
        if not film.root.is_dir():
            raise FileNotFoundError(f"the project folder {film.root} is not visible on {host}\n    fix: mount the "
                                    "shared project folder at the same path on every machine of the cluster")
        meter = _GpuMeter()
        store = TakeStore(film.root)
        # read-only here: the batch saved the file-hash cache, and tasks running side by side
        # must not overwrite each other's copy of it
        hashes = HashCache.for_project(film.root)
        derived = derived_for(film, store, shot)
        step = max(1, shot.frames // 4)

        def progress(done: int) -> None:
            if done % step == 0 or done == shot.frames:
                log.line(f"{done}/{shot.frames} frames")

        take, made = make_take(film, shot, store, hashes, derived, progress)
        seconds = time.perf_counter() - started
        peak = meter.peak()
        log.line(f"{'made' if made else 'found (already made)'} {take.version} in {seconds:.1f} s: "
                 f"{take.folder.relative_to(film.root)}" + (f"; peak GPU memory {peak} bytes" if peak else ""))
        return Outcome(task.shot_id, task.attempt, True, made, take.version, seconds, peak, host=host)
    except Exception as exc:  # noqa: BLE001 - every failure of the shot becomes an outcome
        fix = getattr(exc, "fix", "")
        message = f"{exc}" + (f"\n    fix: {fix}" if fix and "fix:" not in str(exc) else "")
        log.line(f"FAILED after {time.perf_counter() - started:.1f} s: {type(exc).__name__}: {message}")
        log.line(traceback.format_exc().rstrip())
        return Outcome(task.shot_id, task.attempt, False, seconds=time.perf_counter() - started,
                       peak_gpu_bytes=_GpuMeter.peak(), error_type=type(exc).__name__, error=message, host=host)
    finally:
        log.close()
