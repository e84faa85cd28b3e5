"""The take store: ``renders/takes/<shot>/vNNN/`` folders that are complete or absent.

A take folder holds the lossless frames (``frames.mkv``, Ut Video), the editorial media
(``<shot>_vNNN.mov``, ProRes 422 HQ with timecode and reel) and ``manifest.json``
(:mod:`racines.takes.manifest`).
It is assembled in a hidden staging folder and renamed into place in one step, so a
killed process never leaves a half-written take behind a version number.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from racines.core.atomic import staging_dir, sweep_partials, write_json
from racines.takes.manifest import TakeManifest

TAKES_DIR = Path("renders") / "takes"
VERSION = re.compile(r"^v(\d{3,})$")
FAILURE_FILE = "failed.json"


@dataclass(frozen=True)
class Take:
    shot_id: str
    version: str
    folder: Path
    info: TakeManifest  # given a mapping, validated into one

    def __post_init__(self) -> None:
        if not isinstance(self.info, TakeManifest):
            object.__setattr__(self, "info", TakeManifest.read(self.info, self.shot_id, self.version))

    @cached_property
    def manifest(self) -> dict:
        """The manifest as JSON, for readers that want a mapping; ``info`` is its typed form."""
        return self.info.to_json()

    @property
    def media(self) -> Path:
        return self.folder / self.info.media.editorial

    @property
    def lossless(self) -> Path:
        return self.folder / self.info.media.lossless

    @property
    def reel(self) -> str:
        return self.info.media.reel

    @property
    def frames(self) -> int:
        return self.info.frames

    @property
    def cache_key(self) -> str:
        return self.info.cache_key


def reel_for(shot_id: str, version: str, cache_key: str) -> str:
    """A unique reel name of 8 characters: the EDL's only reliable link back to the media."""
    digest = hashlib.sha1(f"{shot_id}/{version}/{cache_key}".encode()).digest()
    return "R" + base64.b32encode(digest).decode()[:7]


def _read_manifest(folder: Path, shot_id: str) -> TakeManifest | None:
    """The take's manifest, or None for a folder that is not a usable take (left untouched)."""
    try:
        return TakeManifest.read(json.loads((folder / "manifest.json").read_text(encoding="utf-8")),
                                 shot_id, folder.name)
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


class TakeStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.folder = self.root / TAKES_DIR

    def shot_folder(self, shot_id: str) -> Path:
        return self.folder / shot_id

    def takes(self, shot_id: str) -> list[Take]:
        return list(reversed(list(self.newest_first(shot_id))))

    def newest_first(self, shot_id: str) -> Iterator[Take]:
        """The shot's takes from the newest, each manifest read only when reached: a shot
        iterated all day has hundreds of takes, and a render mostly wants the newest."""
        folder = self.shot_folder(shot_id)
        entries = [entry for entry in folder.iterdir() if VERSION.match(entry.name)] if folder.is_dir() else []
        for entry in sorted(entries, key=lambda entry: int(entry.name[1:]), reverse=True):
            manifest = _read_manifest(entry, shot_id)
            if manifest is not None:
                yield Take(shot_id, entry.name, entry, manifest)

    def latest(self, shot_id: str) -> Take | None:
        return next(self.newest_first(shot_id), None)

    def find_cached(self, shot_id: str, cache_key: str) -> Take | None:
        return next((take for take in self.newest_first(shot_id) if take.cache_key == cache_key), None)

    def next_version(self, shot_id: str) -> str:
        folder = self.shot_folder(shot_id)
        numbers = [int(m.group(1)) for e in folder.iterdir() if (m := VERSION.match(e.name))] if folder.is_dir() else []
        return f"v{max(numbers, default=0) + 1:03d}"

    def record_failure(self, shot_id: str, cache_key: str, error: str) -> None:
        write_json(self.shot_folder(shot_id) / FAILURE_FILE, {
            "cache_key": cache_key, "error": error[-4000:],
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})

    def clear_failure(self, shot_id: str) -> None:
        (self.shot_folder(shot_id) / FAILURE_FILE).unlink(missing_ok=True)

    def failure(self, shot_id: str) -> dict | None:
        path = self.shot_folder(shot_id) / FAILURE_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def create(self, shot_id: str, fill: Callable[[Path, str], TakeManifest]) -> Take:
        """Build a new take: ``fill(staging_folder, version)`` writes the media and returns the manifest."""
        folder = self.shot_folder(shot_id)
        sweep_partials(folder)
        version = self.next_version(shot_id)
        with staging_dir(folder, version) as staging:
            manifest = fill(staging, version)
            (staging / "manifest.json").write_text(
                json.dumps(manifest.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
            final = folder / version
            os.rename(staging, final)  # atomic; fails rather than overwrite a take made meanwhile
        return Take(shot_id, version, final, manifest)
