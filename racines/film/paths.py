"""Keep every path named in a shot file inside the project."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


class PathRefused(ValueError):
    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


def confine(root: Path, base_dir: Path, text: str) -> Path:
    """Resolve ``text`` relative to ``base_dir`` and refuse anything that leaves ``root``.

    Symbolic links are followed before the check, so a link pointing outside the project
    is refused like a ``../`` path.
    """
    if "://" in text or text.startswith("file:"):
        raise PathRefused("URLs are not allowed", "copy the file into the project and give its relative path")
    if PurePosixPath(text).is_absolute() or Path(text).is_absolute():
        raise PathRefused(
            "absolute paths are not allowed", "give a path relative to the shot file, e.g. photos/name.jpg"
        )
    root = root.resolve()
    candidate = (base_dir / text).resolve()
    if not candidate.is_relative_to(root):
        raise PathRefused(
            f"the path leaves the project folder {root}",
            "copy the photograph into shots/photos/ and point to it from there",
        )
    if not candidate.exists():
        raise PathRefused(
            "no file at this path",
            f"check the spelling; the path is relative to {base_dir.relative_to(root).as_posix() or '.'}/",
        )
    if not candidate.is_file():
        raise PathRefused("this is not a file", "point to an image file")
    return candidate


def project_relative(root: Path, path: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


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
    root = root.resolve()
    cache = hf_cache_dir().resolve()
    candidate = (root / text).resolve()  # an absolute text replaces root here
    if candidate.is_relative_to(root) or candidate.is_relative_to(cache):
        return candidate
    raise PathRefused(f"the folder is neither inside the project {root} nor inside the Hugging Face cache {cache}",
                      "move the model folder under the project (e.g. models/NAME) or use repo: with the HF cache")
