"""The piece cache under the output folder: encoded pieces and chunks in ``cache/pieces/``,
links to media a concat list cannot name in ``cache/links/``, and beside the pieces a state
file per film and deliverable (``<stem>.<kind>.json``) saying what the deliverable was last
joined from. The state files are JSON objects with the fields of :class:`State`; their paths
are relative to the output folder, so that a copied or moved project finds its cache current.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from racines.core.atomic import write_json
from racines.render.plan import PIECES_DIR, Deliverable, Entry, MediaStamp, Plan, Source

Stamp = tuple[int, int]  # a file's (size, mtime_ns)


@dataclass(frozen=True)
class State:
    """What a deliverable shows (a plan's, or as a state file keeps it) and, once written, what
    it was joined from and the stamp of the file as written (a file changed since is not ours)."""

    stem: str
    timecode: str                    # the record timecode of the film's first frame
    format: tuple                    # Format.key
    entries: tuple[Entry, ...]
    sources: tuple[Source, ...]
    joined: tuple[str, ...] = ()     # the files it was joined from: its pieces, or chunks of them
    output: Stamp | None = None
    sound: str | None = None         # the key of the mix it carries; None: silent
    subtitles: str | None = None     # the key of its subtitle tracks; None: none

    @classmethod
    def wanted(cls, plan: Plan, deliverable: Deliverable) -> State:
        return cls(plan.stem, plan.start_tc, plan.fmt.key, deliverable.entries, plan.sources, sound=deliverable.sound,
                   subtitles=deliverable.subtitles.key if deliverable.subtitles else None)

    def shows_the_same_picture(self, other: State) -> bool:
        return (self.stem, self.timecode, self.format, self.entries, self.sources) == \
            (other.stem, other.timecode, other.format, other.entries, other.sources)

    def shows_the_same(self, other: State) -> bool:
        return self.shows_the_same_picture(other) and self.sound == other.sound and self.subtitles == other.subtitles

    def to_json(self) -> dict:
        return {"stem": self.stem, "timecode": self.timecode, "format": list(self.format),
                "entries": [e.to_json() for e in self.entries], "sources": [s.to_json() for s in self.sources],
                "joined": list(self.joined), "output": list(self.output) if self.output else None,
                "sound": self.sound, "subtitles": self.subtitles}

    @classmethod
    def from_json(cls, data: dict) -> State:
        """Raises ValueError, KeyError or TypeError for a file that is not a state."""
        output = data.get("output")
        return cls(str(data["stem"]), str(data["timecode"]), tuple(data.get("format") or ()),
                   tuple(Entry.from_json(e) for e in data["entries"]),
                   tuple(Source.from_json(s) for s in data["sources"]),
                   tuple(str(f) for f in data.get("joined", ())),
                   (int(output[0]), int(output[1])) if output else None,
                   str(data["sound"]) if data.get("sound") else None,
                   str(data["subtitles"]) if data.get("subtitles") else None)


def stamp(path: Path) -> Stamp | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


class PieceCache:
    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.folder = out_dir / PIECES_DIR

    def stamps(self, media: Iterable[Path]) -> dict[Path, MediaStamp]:
        return {path: stamp(path) for path in media}

    def path(self, entry: Entry | str) -> Path:
        return self.out_dir / (entry.file if isinstance(entry, Entry) else entry)

    def has(self, entry: Entry | str) -> bool:
        return self.path(entry).is_file()

    def state(self, stem: str, kind: str) -> State | None:
        return _read_state(self.folder / f"{stem}.{kind}.json")

    def save(self, stem: str, kind: str, state: State) -> None:
        write_json(self.folder / f"{stem}.{kind}.json", state.to_json())

    def link(self, links: Mapping[str, Path]) -> None:
        """Make each link lead to its media: by a relative path, which moves with the project,
        unless a linked folder on the way would make it lead elsewhere."""
        for file, media in links.items():
            link = self.path(file)
            if link.is_symlink() and _same_file(link, media):
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to(os.path.relpath(media, link.parent))
            if not _same_file(link, media):
                link.unlink()
                link.symlink_to(Path(media).resolve())

    def prune(self) -> None:
        """Keep only the encoded pieces and chunks that some film's last render uses."""
        used: set[str] = set()
        for path in self.folder.glob("*.json"):
            state = _read_state(path)
            if state is not None:
                used.update(Path(e.file).name for e in state.entries)
                used.update(Path(file).name for file in state.joined)
        for piece in list(self.folder.glob("*.mov")) + list(self.folder.glob("*.mp4")):
            if piece.name not in used:
                piece.unlink(missing_ok=True)


def _read_state(path: Path) -> State | None:
    try:
        return State.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
