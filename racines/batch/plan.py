"""What a batch has to do: the stale shots of the cut, in the order that finishes soonest.

The plan reuses :func:`racines.pipeline.film_status`, so the batch and ``racines status``
never disagree on what is stale. Shots that depend on other takes (the credits card is built
from their provenance) are not planned up front: they are checked again once the other
takes exist, and blocked when one of those has no take at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from racines.film.model import Film, Shot
from racines.generators import derives_from_takes, get_generator
from racines.pipeline import ShotState, film_status
from racines.takes.resolve import Resolver
from racines.takes.store import TakeStore

PROFILES = ("draft", "final")
TO_RENDER = ("stale", "missing", "failed")


def profile_note(film: Film, profile: str) -> str:
    """What the profile means for this film, for the dailies: which shots diffusion makes."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    if profile == "draft":
        return "weightless generators"
    finals = [film.shots[s] for s in film.cut if film.shots[s].renders_final]
    if not finals:
        return "no shot of the cut has a final: block, so all render as draft"
    kinds = sorted({shot.kind for shot in finals})
    rest = len(film.cut) - len(finals)
    return (f"{len(finals)} shot{'s' if len(finals) != 1 else ''} by diffusion ({', '.join(kinds)})"
            + (f", {rest} without a final: block at draft" if rest else ""))


def depends_on_takes(shot: Shot) -> bool:
    """A shot whose pixels are computed from other takes (its generator derives from them)."""
    return derives_from_takes(shot.kind)


@dataclass(frozen=True)
class Plan:
    states: dict[str, ShotState]                            # every shot of the cut
    first: tuple[str, ...]                                  # stale shots, longest first
    after: tuple[str, ...]                                  # shots made from the others' takes, checked last
    keys: dict[str, str] = field(default_factory=dict)      # cache key of each shot to render


def estimated_seconds(shot: Shot, store: TakeStore) -> float:
    """How long the shot's take should take: its last take's pace with the same generator if
    it has one (seconds per frame, from the manifest's timings), else its frames weighted by
    the generator's relative cost (a Ken Burns frame is worth about 20 ms on a CPU)."""
    generator = get_generator(shot.kind)
    for take in store.newest_first(shot.id):
        seconds = take.manifest.get("timings", {}).get("generate_and_encode_s")
        if take.manifest.get("generator", {}).get("name") == generator.name and seconds and take.frames:
            return seconds / take.frames * shot.frames
    return 0.02 * generator.cost_per_frame * shot.frames


def models_of(shot: Shot) -> tuple[str, ...]:
    """The model weights a shot's generator loads (its own, a keyframe target's, a prompt
    enhancer's); none for a weightless kind. A worker that holds them renders it without loading."""
    names = getattr(shot.generator, "model_names", None)
    return tuple(names()) if callable(names) else ()


def adapters_of(shot: Shot) -> tuple[tuple[str, float], ...]:
    """The LoRA adapters (absolute path, scale) of the shot's final: block and its keyframe target."""
    parts = getattr(shot.generator, "parts", None)
    if not callable(parts):
        return ()
    return tuple((str(shot.weights.get(lora.path, lora.path)), lora.scale) for _, part in parts() for lora in part.lora)


def pass_of(shot: Shot) -> int:
    """Keyframes first (a still each), then the video pass, then the weightless shots."""
    if not models_of(shot):
        return 2
    return 0 if shot.kind == "keyframe" else 1


def make_plan(film: Film) -> Plan:
    """Plan the shots of ``film.cut`` (unconsented shots are already out of the cut).

    Order: by pass (:func:`pass_of`); within a pass the shots of one set of models together
    (a worker then loads each model once: see :func:`startable`), and within those the shots of
    one set of adapters together (switching adapters unfuses and fuses them again); groups and
    shots longest first, so that the last shot to finish is a short one (LPT scheduling)."""
    states = {state.shot_id: state for state in film_status(film)}
    first = [s for s in film.cut if states[s].state in TO_RENDER and not depends_on_takes(film.shots[s])]
    store = TakeStore(film.root)
    seconds = {s: estimated_seconds(film.shots[s], store) for s in first}
    models = {s: models_of(film.shots[s]) for s in first}
    adapters = {s: adapters_of(film.shots[s]) for s in first}
    by_models: dict[tuple, float] = {}
    by_adapters: dict[tuple, float] = {}
    for s in first:
        by_models[models[s]] = by_models.get(models[s], 0.0) + seconds[s]
        by_adapters[models[s], adapters[s]] = by_adapters.get((models[s], adapters[s]), 0.0) + seconds[s]
    first.sort(key=lambda s: (pass_of(film.shots[s]), -by_models[models[s]], models[s],
                              -by_adapters[models[s], adapters[s]], adapters[s], -seconds[s]))
    after = tuple(s for s in film.cut if depends_on_takes(film.shots[s]))
    return Plan(states, tuple(first), after, {s: states[s].key for s in first})


def startable(ready: list[str], models: dict[str, tuple[str, ...]], idle: list[frozenset[str]],
              busy: list[frozenset[str]]) -> list[str]:
    """Which of the ``ready`` shots (in the plan's order) to start now, given what the workers
    hold (the models of their recent shots): ``idle`` and ``busy`` workers. Best first: a shot
    whose models an idle worker holds; then one whose models no worker holds (someone loads
    them once); last, one whose models only a busy worker holds, and only while two or more of
    its shots wait (loading a second copy pays; for the last one, its holder comes back first).
    Weightless shots always start."""
    held_idle = frozenset().union(*idle) if idle else frozenset()
    held_busy = frozenset().union(*busy) if busy else frozenset()
    waiting: dict[tuple, int] = {}
    for shot in ready:
        waiting[models[shot]] = waiting.get(models[shot], 0) + 1
    ranked = []
    for position, shot in enumerate(ready):
        needs = set(models[shot])
        if not needs or needs <= held_idle:
            rank = 0
        elif not needs & (held_idle | held_busy):
            rank = 1
        elif needs & held_idle or waiting[models[shot]] > 1:
            rank = 2
        else:
            continue  # its holder is busy and will take it next
        ranked.append((rank, position, shot))
    return [shot for _, _, shot in sorted(ranked)]


def check_dependent(film: Film, shot_id: str) -> tuple[str, str | None, tuple[str, ...]]:
    """Once the other takes are made: ("up to date" | "stale" | "blocked", cache key, reasons)."""
    resolver = Resolver(film)
    without = [s for s in film.cut if not depends_on_takes(film.shots[s]) and resolver.cut_take(s) is None]
    if without:
        return "blocked", None, (f"waiting for a take of {', '.join(without)}: the card credits every "
                                 "photograph in the cut",)
    key = resolver.key(shot_id)
    resolver.save()
    if resolver.store.find_cached(shot_id, key) is not None:
        return "up to date", key, ()
    return "stale", key, ("the takes it is made from changed",)
