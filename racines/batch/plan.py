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


def make_plan(film: Film) -> Plan:
    """Plan the shots of ``film.cut`` (unconsented shots are already out of the cut)."""
    states = {state.shot_id: state for state in film_status(film)}
    first = [s for s in film.cut if states[s].state in TO_RENDER and not depends_on_takes(film.shots[s])]
    # longest first, so that the last shot to finish is a short one (LPT scheduling)
    store = TakeStore(film.root)
    first.sort(key=lambda s: -estimated_seconds(film.shots[s], store))
    after = tuple(s for s in film.cut if depends_on_takes(film.shots[s]))
    return Plan(states, tuple(first), after, {s: states[s].key for s in first})


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
