"""The cache key of a shot: a hash of everything that changes its pixels, and nothing else."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from racines.film.model import Film, Shot

#: bump when the take's media format changes, so that every take is made again
MEDIA_FORMAT = "1"


@lru_cache(maxsize=256)
def file_sha256(path: Path, _mtime_ns: int = 0, _size: int = 0) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    stat = path.stat()  # the stat fields make the memo safe when a file is edited in place
    return file_sha256(path, stat.st_mtime_ns, stat.st_size)


def cache_key(shot: Shot, film: Film, generator_name: str, generator_version: str, extra: object = None) -> str:
    payload = {
        "media_format": MEDIA_FORMAT,
        "generator": [generator_name, generator_version],
        "settings": shot.generator.model_dump(mode="json"),
        "frames": shot.frames,
        "film": [film.width, film.height, film.rate_text],
        "photo": sha256_of(shot.source.path) if shot.source else None,
        "assets": {name: sha256_of(path) for name, path in sorted(shot.assets.items())},
        "extra": extra,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
