"""From a URL to a file: the review room serves only files it can name from the film's ids.

A URL never carries a path. Shot ids are checked against the film, versions against the take
store, and the file names come from a take's manifest or from a fixed pattern; each file is
then resolved (symlinks followed) and must lie, as a regular file, inside the folder it belongs
to. Anything else is answered as "not found", whatever the reason.
"""

from __future__ import annotations

from pathlib import Path


class NotServed(Exception):
    """A file the review room will not serve (said to the browser as 404)."""


def plain_name(name: str) -> str:
    """``name`` if it names a file in a folder and nothing else: no separator, no dot file."""
    if not name or name.startswith(".") or any(c in name for c in "/\\\0") or len(name) > 255:
        raise NotServed(f"not a plain file name: {name!r}")
    return name


def confined(folder: Path, name: str, within: Path | None = None) -> Path:
    """``folder/name`` resolved, if it is a regular file inside ``within`` (default: ``folder``),
    both resolved: a symlink that leads out of it is refused."""
    try:
        base = (within or folder).resolve(strict=True)
        path = (folder / plain_name(name)).resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # missing, a symlink loop
        raise NotServed(str(exc)) from None
    if not path.is_relative_to(base) or not path.is_file():
        raise NotServed(f"{name} lies outside {base} or is not a file")
    return path
