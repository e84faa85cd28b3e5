"""Render a timeline to the film's deliverables: a ProRes master and an H.264 review copy.

The flow, a module each: plan the pieces and what each deliverable joins (plan), see which
deliverables and pieces are stale against the cache's state (stale, cache), encode the
missing pieces (encode), then patch each stale deliverable in place when the policy allows
(patch, policy) or join it whole by stream copy (join). In the master, a solo stretch is
copied straight from its take's ProRes media, frame-exact (ProRes is intra-only) and with
no generation loss; only dissolves are encoded. An unchanged film is not touched at all.
The film's sound, mixed once (racines.sound), is copied in as it is: with the picture when a
deliverable is joined whole; kept by a patch, which swaps video frames only; and by a remux
of the deliverable's own picture when only the sound changed (remux), or for the master, whose
picture is most of its bytes, the new sound appended and its track's index rewritten in place
(soundswap). The review copy's subtitle tracks (mov_text, one per language) come in the same
ways: with the join, kept by a patch, and remuxed when only they changed. The stems and the mix
manifest go beside the master (stems).
Every file is written under a temporary name and moved into place when complete, or patched
so that a reader sees the old film or the new one, never a mix.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from racines.render.cache import PieceCache, State, stamp
from racines.render.encode import encode_all
from racines.render.join import join_whole, kept_chunks
from racines.render.patch import patch_in_place
from racines.render.plan import PIECES_DIR, Deliverable, Format, Subtitles, SubtitleTrack, media_used, plan_render
from racines.render.policy import Policy
from racines.render.remux import remux, swap_sound
from racines.render.stale import pieces_to_encode, sound_only, stale_deliverables
from racines.render.stems import deliver_stems
from racines.sound.mix import Soundtrack

__all__ = ["PIECES_DIR", "POLICY", "Deliverables", "Policy", "SubtitleTrack", "Subtitles", "render_timeline"]

#: the policy of renders that name none
POLICY = Policy()


@dataclass(frozen=True)
class Deliverables:
    master: Path | None
    review: Path | None
    frames: int
    pieces_encoded: int = 0
    unchanged: bool = False
    remuxed: tuple[Path, ...] = ()   # given a new sound, their picture untouched
    stems: tuple[Path, ...] = ()     # stems and mix manifest written beside the master
    sound: Soundtrack | None = None  # the mix they carry


def render_timeline(timeline: otio.schema.Timeline, media_base: Path, out_dir: Path, stem: str,
                    width: int, height: int, rate: Fraction, *, review: bool = True,
                    on_frame: Callable[[int], None] | None = None, workers: int = 1,
                    copy_solo: bool = True, master: bool = True, drop_frame: bool = False,
                    policy: Policy | None = None, sound: Soundtrack | None = None,
                    subtitles: Subtitles | None = None) -> Deliverables:
    """``media_base``: the folder the timeline's media URLs are relative to; ``workers``: pieces
    encoded at once; ``copy_solo=False`` encodes every frame of the master (e.g. to compare
    with a full re-encode); ``master=False`` leaves the master as it is (a director's iteration
    watches the review copy); ``drop_frame``: the film's timecode choice, for the master's
    timecode and the burn-ins (honoured at 30000/1001 and 60000/1001); ``policy``: when to
    patch rather than join (default POLICY); ``sound``: the film's mix (None: silent);
    ``subtitles``: the review copy's subtitle tracks (a change of them alone remuxes it)."""
    if not (master or review):
        raise ValueError("render_timeline needs the master, the review copy, or both")
    policy = policy or POLICY
    cache = PieceCache(out_dir)
    fmt = Format(width, height, rate, drop_frame)
    plan = plan_render(timeline, media_base, out_dir, stem, fmt, cache.stamps(media_used(timeline, media_base)),
                       master=master, review=review, copy_solo=copy_solo, sound=sound, subtitles=subtitles)
    master_path, review_path = (d.path if d else None for d in (plan.deliverable("master"), plan.deliverable("review")))
    stale = stale_deliverables(plan, cache)
    stems = tuple(deliver_stems(sound, out_dir, stem, plan.start, rate)) if master else ()
    if not stale:
        if on_frame:
            on_frame(plan.frames)
        return Deliverables(master_path, review_path, plan.frames, 0, True, stems=stems, sound=sound)
    remuxed = [d for d in stale if sound_only(plan, d, cache)]
    jobs = pieces_to_encode(plan, cache, [d for d in stale if d not in remuxed])
    encode_all(jobs, fmt, plan.frames, workers, on_frame)
    cache.link(plan.links)

    def deliver(deliverable: Deliverable) -> State:
        if deliverable in remuxed:
            last = cache.state(plan.stem, deliverable.kind)
            if not swap_sound(deliverable, last, policy):
                remux(deliverable, plan.start_tc)
            return replace(State.wanted(plan, deliverable), joined=last.joined if last else (),
                           output=stamp(deliverable.path))
        if patch_in_place(plan, deliverable, cache, policy):
            joined = kept_chunks(out_dir, deliverable.entries, policy.chunk)
        else:
            joined = join_whole(out_dir, deliverable, fmt.rate, plan.start_tc, policy.chunk)
        return replace(State.wanted(plan, deliverable), joined=tuple(e.file for e in joined),
                       output=stamp(deliverable.path))

    # the two joins are ffmpeg processes bound by the disk: side by side they take the time of the longer
    with ThreadPoolExecutor(len(stale), thread_name_prefix="racines-join") as pool:
        states = list(pool.map(deliver, stale))
    for deliverable, state in zip(stale, states):
        cache.save(plan.stem, deliverable.kind, state)
    cache.prune()
    return Deliverables(master_path, review_path, plan.frames, len(jobs), False,
                        tuple(d.path for d in remuxed), stems, sound)
