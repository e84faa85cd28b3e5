"""Write files and folders so that they appear complete or not at all."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _read_umask() -> int:
    """The process's umask, read without changing it: os.umask can only read it by setting it,
    and a file (or an ffmpeg child) created by another thread in that window would get 0666."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _UMASK_AT_IMPORT


def _umask_at_import() -> int:
    # imports run before racines starts any thread; the fallback where /proc says nothing
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _umask_at_import()


def publishable(path: Path, directory: bool = False) -> None:
    """Give a temp file or folder the permissions a normal one would have (mkstemp makes them private)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_read_umask())


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; move it into place only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".partial{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        publishable(tmp_path)
        os.replace(tmp_path, final)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: Path, data: object) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


@contextmanager
def staging_dir(parent: Path, name: str) -> Iterator[Path]:
    """A hidden working folder that is removed unless the caller renames it into place."""
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=parent))
    publishable(work, directory=True)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def sweep_partials(folder: Path) -> list[Path]:
    """Remove what an interrupted run left behind (names that only atomic writers use)."""
    removed = []
    if folder.is_dir():
        for leftover in folder.glob(".*.partial*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed
