"""When a deliverable is patched in place and when it is joined whole again: one pure decision,
its thresholds parameters rather than constants."""

from __future__ import annotations

from dataclasses import dataclass

from racines.render.cache import Stamp, State


@dataclass(frozen=True)
class Policy:
    #: encoded pieces per chunk file, for a deliverable joined whole (see racines.render.join)
    chunk: int = 16
    #: below this share of live frames in a patched file, it is joined whole again (compacted)
    live_min: float = 0.5
    #: at this share of the film's frames changed or more, joining whole costs no more than patching
    changed_max: float = 0.5

    def pieces_to_patch(self, last: State | None, wanted: State, output: Stamp | None) -> list[int] | None:
        """The pieces whose frames to swap into the file the last render wrote, or None to
        join it whole: when there is no such file (or it changed since: ``output`` is its stamp
        now), when its sound, its subtitles or the film's start, size or rate changed, when a piece changed its length or
        the pieces their number, when nothing or too much changed."""
        if (last is None or output is None or last.output != output or last.sound != wanted.sound
                or last.subtitles != wanted.subtitles
                or (last.stem, last.timecode, last.format) != (wanted.stem, wanted.timecode, wanted.format)
                or [s.frames for s in last.sources] != [s.frames for s in wanted.sources]
                or len(last.entries) != len(wanted.entries)):
            return None
        changed = [index for index, (entry, source) in enumerate(zip(wanted.entries, wanted.sources))
                   if entry != last.entries[index] or source != last.sources[index]]
        frames = sum(s.frames for s in wanted.sources)
        if not changed or sum(wanted.sources[i].frames for i in changed) >= self.changed_max * frames:
            return None
        return changed
