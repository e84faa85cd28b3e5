"""Keep every path named in a shot file inside the project."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


class PathRefused(ValueError):
    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


# Linux's limits (NAME_MAX, PATH_MAX), checked before the file system is asked, which would
# answer with an OSError rather than a refusal
NAME_MAX = 255
PATH_MAX = 4096


def _check_text(text: str) -> None:
    """Refuse what no file system path can hold, before any call that would raise on it."""
    if "\0" in text:
        raise PathRefused("the path holds a NUL character", "retype the path; a file name cannot contain one")
    if len(text.encode("utf-8", "surrogateescape")) >= PATH_MAX:
        raise PathRefused(f"the path is longer than the {PATH_MAX - 1} bytes a path can have",
                          "give the file a shorter path")
    for part in PurePosixPath(text).parts:
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise PathRefused(f"a part of the path is longer than the {NAME_MAX} bytes a file name can have",
                              "give the file a shorter name")


def _resolved(path: Path) -> Path:
    """``path`` with its links followed; a link loop or an unreadable folder is refused."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
        raise PathRefused(f"the path cannot be followed ({getattr(exc, 'strerror', None) or exc})",
                          "check the links and folders along the path") from None


def confine(root: Path, base_dir: Path, text: str) -> Path:
    """Resolve ``text`` relative to ``base_dir`` and refuse anything that leaves ``root``.

    Symbolic links are followed before the check, so a link pointing outside the project
    is refused like a ``../`` path.
    """
    if "://" in text or text.startswith("file:"):
        raise PathRefused("URLs are not allowed", "copy the file into the project and give its relative path")
    _check_text(text)
    if PurePosixPath(text).is_absolute() or Path(text).is_absolute():
        raise PathRefused(
            "absolute paths are not allowed", "give a path relative to the shot file, e.g. photos/name.jpg"
        )
    root = root.resolve()
    candidate = _resolved(base_dir / text)
    if not candidate.is_relative_to(root):
        raise PathRefused(
            f"the path leaves the project folder {root}",
            "copy the photograph into shots/photos/ and point to it from there",
        )
    try:
        exists, is_file = candidate.exists(), candidate.is_file()
    except OSError as exc:
        raise PathRefused(f"the path cannot be read ({exc.strerror or exc})", "check the path") from None
    if not exists:
        raise PathRefused(
            "no file at this path",
            f"check the spelling; the path is relative to {base_dir.relative_to(root).as_posix() or '.'}/",
        )
    if not is_file:
        raise PathRefused("this is not a file", "point to an image file")
    return candidate


def project_relative(root: Path, path: Path) -> str:
    """``path`` as the project names it; a link leaving the project keeps the name it has in it."""
    root = root.resolve()
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a link loop: named as written
        resolved = path.absolute()
    if resolved.is_relative_to(root):
        return resolved.relative_to(root).as_posix()
    return path.absolute().relative_to(root).as_posix() if path.absolute().is_relative_to(root) else str(path)


def leaves_project(root: Path, path: Path) -> bool:
    """Whether ``path`` (inside the project by name) is a link to something outside it."""
    try:
        return not path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return False  # a link loop: reading it says so


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time as huggingface_hub does."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def confine_folder(root: Path, text: str) -> Path:
    """A model folder: relative to the project and inside it, or absolute inside the HF cache.

    The folder need not exist yet (a missing model is reported when a shot needs it).
    """
    if "://" in text or text.startswith("file:"):
        raise PathRefused("URLs are not allowed", "give a folder relative to the project, e.g. models/NAME")
    _check_text(text)
    root = root.resolve()
    cache = _resolved(hf_cache_dir())
    candidate = _resolved(root / text)  # an absolute text replaces root here
    if candidate.is_relative_to(root) or candidate.is_relative_to(cache):
        return candidate
    raise PathRefused(f"the folder is neither inside the project {root} nor inside the Hugging Face cache {cache}",
                      "move the model folder under the project (e.g. models/NAME) or use repo: with the HF cache")
