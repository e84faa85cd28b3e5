"""Find generators by name through the ``racines.generators`` entry points.

Third-party packages add generators by declaring an entry point in that group; the
built-in ones are declared in racines' own pyproject.toml.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from importlib.metadata import entry_points

from racines.generators.base import Generator

_BUILTIN = {
    "still": "racines.generators.still:StillGenerator",
    "kenburns": "racines.generators.kenburns:KenBurnsGenerator",
    "morph": "racines.generators.morph:MorphGenerator",
    "credits": "racines.generators.credits:CreditsGenerator",
    "svd": "racines.generators.diffusion.svd:SvdGenerator",
    "wan-i2v": "racines.generators.diffusion.wan:WanI2VGenerator",
    "wan-flf2v": "racines.generators.diffusion.wan:WanFLF2VGenerator",
    "ltx": "racines.generators.diffusion.ltx:LtxGenerator",
    "cogvideox": "racines.generators.diffusion.cogvideox:CogVideoXGenerator",
    "keyframe": "racines.generators.diffusion.keyframe:KeyframeGenerator",
}


@lru_cache(maxsize=1)
def _targets() -> dict[str, str]:
    targets = dict(_BUILTIN)  # so that a source checkout works without installed metadata
    for entry in entry_points(group="racines.generators"):
        targets[entry.name] = entry.value
    return targets


def available() -> list[str]:
    return sorted(_targets())


def get_generator(name: str) -> Generator:
    try:
        target = _targets()[name]
    except KeyError:
        raise KeyError(f"no generator named {name!r}; installed: {', '.join(available())}") from None
    module_name, _, attribute = target.partition(":")
    return getattr(import_module(module_name), attribute)()
