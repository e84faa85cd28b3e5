"""What every generator provides, and the easing curves they share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

import numpy as np

from racines.film.model import Film, Shot
from racines.film.schema import KindSettings

Easing = Literal["linear", "ease-in", "ease-out", "ease-in-out"]
Fit = Literal["cover", "contain"]


class Generator:
    """Turns a shot into exactly ``shot.frames`` RGB uint8 frames of the film's size.

    Frames are yielded one at a time so that a take streams to the encoder and a shot of
    any length never sits whole in memory. ``derived`` carries what :meth:`derive` made from
    the other takes, for a generator that ``derives_from_takes``; it is part of the take's
    cache key.

    A generator is installed by an entry point in the ``racines.generators`` group, named after
    its kind; its ``settings`` model is what a shot file's block of that kind holds.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    #: the settings model of this kind (``kind: Literal[name]``), on GeneratorBase for a shot's
    #: generator: block or FinalBase for its final: block (racines.film.schema)
    settings: ClassVar[type[KindSettings]]
    #: True when the frames are made from the other takes of the cut (``derive``): such a shot is
    #: made after them, and its take changes when theirs do
    derives_from_takes: ClassVar[bool] = False
    #: the models this generator uses, for the manifest and the end credits
    models: ClassVar[tuple[str, ...]] = ()
    #: True for a generator that loads model weights (a diffusion pipeline): the batch gives its
    #: shots a GPU slot, and the weightless kinds CPU slots beside them
    runs_on_gpu: ClassVar[bool] = False
    #: a frame's cost against a Ken Burns frame: the batch's estimate of a shot never timed
    cost_per_frame: ClassVar[float] = 1.0
    #: modules that frames() imports when it draws (not when a cache key is checked); a batch
    #: imports them once before it forks its workers, so that each starts with them loaded
    runtime_modules: ClassVar[tuple[str, ...]] = ()
    #: packages whose version can change the pixels: part of the cache key
    libraries: ClassVar[tuple[str, ...]] = ("numpy", "opencv-python-headless", "pillow")

    def frames(self, shot: Shot, film: Film, derived: object = None) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def derive(self, shot: Shot, manifests: list[dict]) -> object:
        """For a generator that ``derives_from_takes``: what its frames need of the manifests of
        the other takes the cut uses (consented shots only), as JSON data."""
        raise NotImplementedError(f"{self.name} does not derive from other takes")

    def derive_with_sound(self, shot: Shot, manifests: list[dict], sound: list[dict]) -> object:
        """:meth:`derive`, given also the voices and music the cut lets be heard (their person,
        role, credit, consent, licence and language): by default, what derive makes of the takes."""
        return self.derive(shot, manifests)

    def frames_with_handles(self, shot: Shot, film: Film, handles: int, derived: object = None) -> Iterator[np.ndarray]:
        """The shot with ``handles`` more frames at each end, for the editor to trim into.

        By default the handles hold the first and last frames; generators whose motion can
        go on past the shot's ends override this.
        """
        frame = None
        for index, frame in enumerate(self.frames(shot, film, derived)):
            if index == 0:
                for _ in range(handles):
                    yield frame
            yield frame
        for _ in range(handles if frame is not None else 0):
            yield frame

    def key_extra(self, shot: Shot, film: Film, hashes) -> dict[str, object]:
        """Named cache-key inputs of this generator's own (model revisions, LoRA files...)."""
        return {}

    def models_for(self, shot: Shot, film: Film) -> list[str]:
        """The models that make this shot, as exactly as known (repo@commit), for the manifest."""
        return list(self.models)

    def provenance(self) -> dict:
        """What the last :meth:`frames` call decided at run time (device, prompts...), for the manifest."""
        return {}

    def apparatus(self) -> dict:
        """The apparatus card of the last :meth:`frames` call: the chain the pictures went through.
        A weightless kind's chain is its own code and the racines.motion pieces it runs, no weights."""
        doc = (getattr(self, "settings", None).__doc__ or type(self).__doc__ or "").strip().splitlines()
        chain = [{"role": "frames", "component": f"{type(self).__module__}.{type(self).__name__}",
                  "does": doc[0] if doc else "", "parameters": 0}]
        chain += [{"role": "motion", "component": module, "parameters": 0} for module in self.runtime_modules
                  if module.startswith("racines.motion")]
        return {"generator": self.name, "version": self.version, "weights": False, "runs": [], "after": chain,
                "parameters": 0}

    def artefacts(self) -> dict:
        """Pictures of the last :meth:`frames` call to keep with the take, by file name (PIL images)."""
        return {}

    def describe(self, models: list[str] | None = None) -> str:
        models = list(self.models) if models is None else models
        return f"racines {self.name} {self.version} (no model weights)" if not models else \
            f"racines {self.name} {self.version} with {', '.join(models)}"


def ease(t: np.ndarray | float, curve: str) -> np.ndarray | float:
    """Map progress ``t`` in [0, 1] through an easing curve (smoothstep-based, C1-continuous)."""
    t = np.clip(t, 0.0, 1.0)
    if curve == "linear":
        return t
    if curve == "ease-in":
        return t * t
    if curve == "ease-out":
        return 1.0 - (1.0 - t) * (1.0 - t)
    if curve == "ease-in-out":
        return t * t * (3.0 - 2.0 * t)
    raise ValueError(f"unknown easing curve {curve!r}; use linear, ease-in, ease-out or ease-in-out")


def progress(index: int, count: int) -> float:
    """Progress of frame ``index`` of ``count``: 0 on the first frame, 1 on the last."""
    return 0.0 if count <= 1 else index / (count - 1)
