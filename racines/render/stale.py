"""What a render has to do: the deliverables that do not show the plan's film yet, and the
pieces of theirs that are not in the cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from racines.render.cache import PieceCache, State, stamp
from racines.render.pieces import Piece
from racines.render.plan import Deliverable, Plan


@dataclass(frozen=True)
class Job:
    """A piece to encode, into the master's file, the review copy's, or both."""

    piece: Piece
    timecode: str            # the record timecode of its first frame
    master: Path | None      # None: cached, copied from its take, or not wanted
    review: Path | None


def stale_deliverables(plan: Plan, cache: PieceCache) -> list[Deliverable]:
    """Those whose state file says they show another film, or whose file is missing or
    changed since the last render wrote it."""
    stale = []
    for deliverable in plan.deliverables:
        last = cache.state(plan.stem, deliverable.kind)
        current = stamp(deliverable.path)
        if last is None or not last.shows_the_same(State.wanted(plan, deliverable)) or current is None \
                or last.output != current:
            stale.append(deliverable)
    return stale


def pieces_to_encode(plan: Plan, cache: PieceCache, deliverables: list[Deliverable]) -> list[Job]:
    """The pieces the ``deliverables`` join that the cache lacks, in the film's order."""
    master, review = (next((d for d in deliverables if d.kind == kind), None) for kind in ("master", "review"))
    jobs = []
    for index, piece in enumerate(plan.pieces):
        missing = {d.kind: cache.path(d.entries[index]) for d in (master, review)
                   if d is not None and not d.entries[index].copied and not cache.has(d.entries[index])}
        if missing:
            jobs.append(Job(piece, plan.timecode(piece), missing.get("master"), missing.get("review")))
    return jobs


def sound_only(plan: Plan, deliverable: Deliverable, cache: PieceCache) -> bool:
    """Whether the deliverable shows the plan's picture, in the file the last render wrote, and
    only its sound or its subtitles differ: then it is remuxed, not joined or patched."""
    last = cache.state(plan.stem, deliverable.kind)
    wanted = State.wanted(plan, deliverable)
    return (last is not None and last.shows_the_same_picture(wanted)
            and (last.sound, last.subtitles) != (wanted.sound, wanted.subtitles)
            and last.output is not None and last.output == stamp(deliverable.path))
