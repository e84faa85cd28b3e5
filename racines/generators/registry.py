"""The installed generators: the entry points of the ``racines.generators`` group, and nothing
else. racines declares its own in pyproject.toml; another package adds a kind by declaring one,
and shot files can then name it (its settings model joins the shot-file format).
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

from racines.film.schema import GENERATORS_GROUP, installed_kinds
from racines.generators.base import Generator


@lru_cache(maxsize=1)
def _entries() -> dict[str, EntryPoint]:
    return {entry.name: entry for entry in entry_points(group=GENERATORS_GROUP)}


def available() -> list[str]:
    return sorted(_entries())


def generator_class(name: str) -> type[Generator]:
    try:
        entry = _entries()[name]
    except KeyError:
        raise KeyError(f"no generator named {name!r}; installed: {', '.join(available())}") from None
    return entry.load()


def get_generator(name: str) -> Generator:
    return generator_class(name)()


def derives_from_takes(kind: str) -> bool:
    """Whether the kind's frames are made from the other takes of the cut (the end credits):
    such a shot is made after them, from what its generator derives from their manifests."""
    return generator_class(kind).derives_from_takes


def shot_file_schema() -> dict:
    """The JSON Schema of shot files: the generator: and final: blocks a union of the installed
    kinds' settings, tagged by ``kind``."""
    return installed_kinds().shot_file.model_json_schema()
