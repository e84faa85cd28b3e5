"""The cache key of a shot: a hash of everything that changes its pixels, and nothing else.

The key is computed from named inputs (the photograph's bytes, each generator setting, the
generator's version, the film's size and rate, the libraries that shape the pixels, and what a
generator adds of its own: the profile, model revisions, LoRA files...). The
inputs are kept in each take's manifest, so ``racines status --why`` can name the ones that
changed. The title, the notes and the shot's place in the cut are not inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from racines.core.atomic import write_json
from racines.film.model import Film, Shot
from racines.film.schema import pixel_settings
from racines.training.lora_manifest import tensor_sha256

#: bump when the take's media format changes, so that every take is made again
MEDIA_FORMAT = "1"
HASHES_FILE = Path("renders") / "cache" / "file-hashes.json"
#: the prefix of a safetensors file's tensor hash among the file hashes
TENSORS = "tensors:"


class HashCache:
    """sha256 of files, remembered across runs by (size, mtime, inode) as DVC does, so that an
    unchanged project is checked without reading every photograph again."""

    def __init__(self, store: Path | None = None):
        self.store = store
        self._entries: dict[str, list] = {}
        self._dirty = False
        if store is not None and store.is_file():
            try:
                self._entries = json.loads(store.read_text(encoding="utf-8"))
            except ValueError:
                self._entries = {}  # a damaged cache only costs a re-hash

    @classmethod
    def for_project(cls, root: Path) -> HashCache:
        return cls(Path(root) / HASHES_FILE)

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        entry = self._entries.get(str(path))
        if entry and entry[:3] == stamp:
            return entry[3]
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        self._entries[str(path)] = [*stamp, digest.hexdigest()]
        self._dirty = True
        return digest.hexdigest()

    def tensors_sha256(self, path: Path) -> str:
        """A safetensors file's identity: the sha256 of its tensors' bytes, not of its header, so
        a LoRA whose metadata is edited (a dataset manifest stamped in) keeps its takes' keys."""
        stat = path.stat()
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        entry = self._entries.get(TENSORS + str(path))
        if entry and entry[:3] == stamp:
            return entry[3]
        digest = tensor_sha256(path)
        self._entries[TENSORS + str(path)] = [*stamp, digest]
        self._dirty = True
        return digest

    def save(self) -> None:
        if self._dirty and self.store is not None:
            live = {p: e for p, e in self._entries.items() if os.path.exists(p.removeprefix(TENSORS))}
            write_json(self.store, live)
            self._dirty = False


@lru_cache(maxsize=64)
def library_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def key_inputs(shot: Shot, film: Film, generator, hashes: HashCache, extra: object = None) -> dict[str, object]:
    """The named inputs of a shot's pixels, in a form that compares and prints well."""
    inputs: dict[str, object] = {
        "media format": MEDIA_FORMAT,
        "generator": f"{generator.name} {generator.version}",
        "frames": shot.frames,
        "handles": film.handles,
        "film size": f"{film.width}x{film.height}",
        "film rate": film.rate_text,
        "photo": hashes.sha256(shot.source.path) if shot.source else None,
    }
    for name, path in sorted(shot.assets.items()):
        inputs[f"{name} image"] = hashes.sha256(path)
    for field, value in pixel_settings(shot.generator).items():
        inputs[f"generator.{field}"] = value
    for package in generator.libraries:
        inputs[f"library {package}"] = library_version(package)
    if extra is not None:
        inputs["derived"] = extra
    inputs.update(generator.key_extra(shot, film, hashes))
    return inputs


def key_of(inputs: dict[str, object]) -> str:
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def changed_inputs(before: dict[str, object], now: dict[str, object]) -> list[str]:
    return sorted(name for name in before.keys() | now.keys() if before.get(name) != now.get(name))
