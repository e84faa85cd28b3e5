"""Swap the changed pieces' frames into the existing master or review copy in place
(racines.render.quicktime) rather than copying the whole film again, as the policy allows."""

from __future__ import annotations

from racines.render import quicktime
from racines.render.cache import PieceCache, State, stamp
from racines.render.plan import Deliverable, Plan
from racines.render.policy import Policy


def patch_in_place(plan: Plan, deliverable: Deliverable, cache: PieceCache, policy: Policy) -> bool:
    """False, leaving the file as it was, when it is to be joined whole: the policy says so, or
    a new piece's frames are not laid out as the old one's (H.264: the same key frames and
    timing, see presets.review_h264), or live frames fill less than ``policy.live_min`` of the
    file's bytes (the rest is the dead frames of earlier patches: the full join compacts it)."""
    last = cache.state(plan.stem, deliverable.kind)
    changed = policy.pieces_to_patch(last, State.wanted(plan, deliverable), stamp(deliverable.path))
    if changed is None or last is None:
        return False
    firsts, first = [], 0
    for piece in plan.pieces:
        firsts.append(first)
        first += piece.frames
    try:
        replacements, tracks = {}, {}
        for index in changed:
            piece, entry = plan.pieces[index], deliverable.entries[index]
            media = piece.layers[0].media if entry.copied else cache.path(entry)
            if media not in tracks:
                tracks[media] = quicktime.read_track(media)
            replacements[firsts[index]] = (tracks[media], piece.layers[0].first_frame if entry.copied else 0,
                                           piece.frames)
        quicktime.replace_samples(deliverable.path, replacements, expected=last.output, min_live=policy.live_min)
    except (quicktime.Unpatchable, OSError):
        return False
    return True
