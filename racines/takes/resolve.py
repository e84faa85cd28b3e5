"""Which take the cut uses, and where each shot stands: the one answer that status, render,
the batch (its plan, its film and its dailies), conform and the take listing share.

The cut uses the approved take when it exists here; else the take made from the shot as it
now stands (at the run's profile, so that a final render and a draft one each cut with their
own take); else the newest. A shot's state is, in the cheapest order of checks: unconsented,
up to date (a take matches its cache key), failed (the last attempt at that key failed),
missing (never rendered) or stale (with the inputs that changed, the ``status --why`` wording).

The credits card's cache key depends on the other takes the cut uses (its lines come from
their provenance), so a :class:`Resolver` answers for one film at one moment: make a new one
after making takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from racines.errors import UsageError
from racines.film.model import Film, Shot
from racines.generators import derives_from_takes, get_generator
from racines.takes.cache import HashCache, changed_inputs, key_inputs, key_of
from racines.takes.reviews import Review, load_review
from racines.takes.store import Take, TakeStore
from racines.training.consent import learned_from

STATES = ("up to date", "stale", "missing", "failed", "unconsented")


@dataclass(frozen=True)
class ShotState:
    shot_id: str
    state: str                 # one of STATES
    selected: Take | None      # the take the cut uses
    review: str | None         # the selected take's review status
    reasons: tuple[str, ...]   # why it is stale, failed or unconsented
    key: str                   # the shot's cache key as it now stands


class Resolver:
    """Answers for ``film`` as its takes and decisions stand now; reviews and cache-key inputs
    are read once per shot. ``save()`` keeps the photographs' hashes for the next run (a batch
    task leaves that to the batch)."""

    def __init__(self, film: Film, store: TakeStore | None = None, hashes: HashCache | None = None):
        self.film = film
        self.store = store or TakeStore(film.root)
        self.hashes = hashes or HashCache.for_project(film.root)
        self._reviews: dict[str, Review] = {}
        self._inputs: dict[str, dict[str, object]] = {}

    def save(self) -> None:
        self.hashes.save()

    def review(self, shot_id: str) -> Review:
        if shot_id not in self._reviews:
            self._reviews[shot_id] = load_review(self.film.root, shot_id)
        return self._reviews[shot_id]

    def derived(self, shot_id: str) -> object:
        """What the shot's generator derives from the manifests of the takes the cut uses
        (the credits card's lines); None for a generator that does not derive from other takes."""
        shot = self.film.shots[shot_id]
        if not derives_from_takes(shot.kind):
            return None
        manifests = []
        for other in self.film.shots_in_cut():
            if derives_from_takes(other.kind) or not other.consented:
                continue
            take = self.cut_take(other.id)
            if take is not None:
                # the LoRAs the take was made with, and whose photographs they learned from
                loras = [other.weights[name[5:]] for name in take.info.cache_inputs
                         if name.startswith("lora ") and name[5:] in other.weights]
                learned = learned_from(self.film, loras) if loras else []
                manifests.append({**take.manifest, "learned_from": learned} if learned else take.manifest)
        sound = [{"role": clip.role, "person": clip.person, "credit": clip.credit, "consent": clip.consent,
                  "licence": clip.licence, "language": clip.language} for clip in self.film.sound_in_cut()
                 if clip.consented]
        return get_generator(shot.kind).derive_with_sound(shot, manifests, sound)

    def inputs(self, shot_id: str) -> dict[str, object]:
        """The cache-key inputs of the shot as it now stands, at the run's profile."""
        if shot_id not in self._inputs:
            shot = self.film.shots[shot_id]
            self._inputs[shot_id] = key_inputs(shot, self.film, get_generator(shot.kind), self.hashes,
                                               self.derived(shot_id))
        return self._inputs[shot_id]

    def key(self, shot_id: str) -> str:
        return key_of(self.inputs(shot_id))

    def cut_take(self, shot_id: str, current: Take | None = None) -> Take | None:
        """The take the cut uses; ``current``: the take matching the shot as it now stands, when
        the caller has just made or found it, so that its key is not worked out again."""
        review = self.review(shot_id)
        approved = self.store.find_cached(shot_id, review.approved_key) if review.approved_key else None
        if approved is not None:
            return approved
        if current is None:
            current = self.store.find_cached(shot_id, self.key(shot_id))
        return current or self.store.latest(shot_id)

    def cut_takes(self, current: dict[str, Take] | None = None) -> dict[str, Take | None]:
        """The take each shot of the cut uses (None: the shot has no take at all)."""
        current = current or {}
        return {s: self.cut_take(s, current.get(s)) for s in self.film.cut}

    def state(self, shot_id: str) -> ShotState:
        shot = self.film.shots[shot_id]
        selected = self.cut_take(shot_id)
        status = self.review(shot_id).status_of(selected.version) if selected else None
        inputs, key = self.inputs(shot_id), self.key(shot_id)
        reasons: tuple[str, ...] = ()
        failure = self.store.failure(shot_id)
        if not shot.consented:
            state, reasons = "unconsented", shot.consent_reasons()
        elif self.store.find_cached(shot_id, key) is not None:
            state = "up to date"
        elif failure and failure.get("cache_key") == key:
            state, reasons = "failed", tuple((failure.get("error", "").strip().splitlines() or ["unknown error"])[-1:])
        elif self.store.latest(shot_id) is None:
            state, reasons = "missing", ("never rendered",)
        else:
            before = last_take_at(self.store, shot).info.cache_inputs
            state, reasons = "stale", tuple(describe_change(name, before.get(name), inputs.get(name))
                                            for name in changed_inputs(before, inputs))
        return ShotState(shot_id, state, selected, status, reasons, key)

    def states(self) -> list[ShotState]:
        """Per shot of the cut, in the cut's order."""
        return [self.state(shot_id) for shot_id in self.film.cut]


@dataclass(frozen=True)
class ShotTakes:
    takes: list[Take]          # oldest first
    selected: Take | None      # the one the cut uses
    review: Review             # the decisions on them


def shot_takes(film: Film, shot_id: str) -> ShotTakes:
    """``racines takes``: a shot's takes, the decisions on them and the one the cut uses."""
    resolver = Resolver(film)
    try:
        return ShotTakes(resolver.store.takes(shot_id), resolver.cut_take(shot_id), resolver.review(shot_id))
    finally:
        resolver.save()


def film_status(film: Film) -> list[ShotState]:
    """``racines status``: where each shot of the cut stands."""
    resolver = Resolver(film)
    try:
        return resolver.states()
    finally:
        resolver.save()


def takes_for_cut(film: Film, current: dict[str, Take] | None = None) -> dict[str, Take]:
    """The take each shot of the cut uses, for a timeline: every shot must have one, and it
    must still fit the shot (an approved take stays until another is approved).
    ``current``: the takes a render has just made or found."""
    resolver = Resolver(film)
    try:
        takes = resolver.cut_takes(current)
    finally:
        resolver.save()
    missing = [s for s, take in takes.items() if take is None]
    if missing:
        raise UsageError(f"no take yet for {', '.join(missing)}\n    fix: run racines render first")
    found = {s: take for s, take in takes.items() if take is not None}
    for shot_id, take in found.items():
        check_fits(film, film.shots[shot_id], take)
    return found


def derived_for(film: Film, store: TakeStore, shot: Shot, hashes: HashCache | None = None) -> object:
    """:meth:`Resolver.derived` as the takes stand now (after the others were made, say)."""
    return Resolver(film, store, hashes).derived(shot.id)


def check_fits(film: Film, shot: Shot, take: Take) -> None:
    """Refuse a take (approved when the shot was otherwise) that no longer fits the film or the shot."""
    made, frames, handles = take.info.film, take.info.shot_frames, take.info.handles
    made_size = f"{made.width}x{made.height}" if made else "an unknown size"
    if made is None or (made_size, made.frame_rate) != (f"{film.width}x{film.height}", film.rate_text):
        problem = f"was made at {made_size}, {made.frame_rate if made else '?'} fps, but the film is " \
                  f"{film.width}x{film.height}, {film.rate_text} fps"
    elif frames != shot.frames:
        problem = f"has {frames} frames, but the shot now lasts {shot.frames}"
    elif min(shot.trim_head, shot.trim_tail) < -handles:
        problem = f"has {handles} frames of handle, fewer than the trims take"
    else:
        return
    raise UsageError(f"the take the cut uses for {shot.id} ({take.version}) {problem}\n"
                     "    fix: render the shot again and approve the new take")


def last_take_at(store: TakeStore, shot: Shot) -> Take:
    """The newest take made at the shot's profile (so that a draft is compared with a draft), else the newest."""
    newest = None
    for take in store.newest_first(shot.id):
        if take.info.profile == shot.profile:
            return take
        newest = newest or take
    if newest is None:
        raise LookupError(f"shot {shot.id} has no take")
    return newest


def describe_change(name: str, before: object, now: object) -> str:
    def short(value: object) -> str:
        text = str(value)
        return text if len(text) <= 40 else text[:12] + "..."
    if name in ("photo",) or name.endswith(" image"):
        return f"{name}: the file's content changed"
    if before is None:
        return f"{name}: new ({short(now)})"
    if now is None:
        return f"{name}: removed"
    return f"{name}: {short(before)} -> {short(now)}"
