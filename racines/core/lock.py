"""One batch or render at a time per project: an OS lock on ``renders/.batch.lock``.

A director's ``racines render`` and the nightly batch write the same takes and the same
film, so they take the same lock.

The lock is ``flock`` on an open file, not the file's existence: the kernel drops it when the
holder exits in any way (SIGKILL, power cut of a network client aside), so a killed batch
never leaves a stale lock behind. The file also says who holds it, for the message a refused
batch prints; that text is informative only. The file is never deleted: removing a lock
file while another process waits on it would let two batches in.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from racines.errors import BatchBusy

LOCK_FILE = Path("renders") / ".batch.lock"


def _holder(fd: int) -> tuple[str, str]:
    """What holds the lock ("batch" or "render") and who, as its file says."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8"))
        return str(info.get("command", "batch")), f"pid {info['pid']} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "run", "a process that has not said who it is yet"


@contextmanager
def project_lock(root: Path, wait_s: float = 0.0, on_wait: Callable[[str], None] | None = None,
               command: str = "batch") -> Iterator[Path]:
    """Hold the project's lock for the block as ``command`` (batch or render); wait up to
    ``wait_s`` seconds for it, else raise :class:`BatchBusy` naming the holder."""
    path = Path(root) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        started = time.monotonic()
        deadline = started + max(0.0, wait_s)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    holder, who = _holder(fd)
                    raise BatchBusy(
                        f"another {holder} holds {path} ({who})\n    fix: let it finish, or run with "
                        f"--wait SECONDS to wait for it; a killed {holder} releases the lock by itself") from None
                if on_wait and not told:
                    holder, who = _holder(fd)
                    # the holder writes who it is just after taking the lock: give it a moment to
                    if holder != "run" or time.monotonic() - started > 1.0:
                        on_wait(f"waiting up to {wait_s:g} s for the {holder} that holds {path} ({who})")
                        told = True
                time.sleep(min(0.2, remaining))
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({"command": command, "pid": os.getpid(), "host": socket.gethostname(),
                                 "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode())
        yield path
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


@contextmanager
def short_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` for a read-modify-write that takes milliseconds
    (decisions, the drafts' record): a second process waits for it; the kernel releases it when
    its holder exits in any way."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
