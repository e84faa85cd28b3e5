"""Read a file someone else wrote without trusting its kind or its size.

A name ending in .yaml or .edl can be a folder, a FIFO (whose open blocks until a writer comes),
a device (/dev/zero never ends) or a file of gigabytes. Opening without blocking, checking that
it is a regular file and reading at most ``limit`` bytes keeps every reader bounded.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


class Unreadable(ValueError):
    """The file cannot be read as asked; ``fix`` says what to do."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


def human_bytes(count: int) -> str:
    for unit in ("bytes", "kB", "MB"):
        if count < 1000 or unit == "MB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}".replace(".0 ", " ")
        count /= 1000  # type: ignore[assignment]
    return f"{count} bytes"


def read_limited(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``; raise :class:`Unreadable` for anything else or
    for a file over ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Unreadable("no such file", "check the path") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise Unreadable(f"the file cannot be opened ({getattr(exc, 'strerror', None) or exc})",
                         "check the path and the file's permissions") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise Unreadable(f"this is {kind}", "give the path of a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise Unreadable(f"the file cannot be read ({exc.strerror or exc})", "copy the file again") from None
    if len(data) > limit:
        raise Unreadable(f"the file is larger than the {human_bytes(limit)} racines reads",
                         "check that this is the right file; a file this large is not one racines writes")
    return data


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (photographs, recordings, datasets)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
