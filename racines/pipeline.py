"""The film's phases, in order: check consent, make takes, assemble, export, render.

Each phase calls one layer; the CLI only parses options and reports. Nothing here runs
before :func:`racines.film.loader.load_film` has accepted every shot file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import opentimelineio as otio

from racines.edit.edl import edl_text
from racines.edit.timeline import build_timeline
from racines.errors import ConsentRefused, Problem, UsageError, ValidationFailed
from racines.film.loader import dissolve_problems
from racines.film.model import Film, Shot
from racines.render.deliver import Deliverables, render_timeline
from racines.takes.atomic import atomic_path, sweep_partials
from racines.takes.make import make_take
from racines.takes.store import Take, TakeStore

EDL_DIR = "edl"
RENDERS_DIR = "renders"

Progress = Callable[[str, int], Callable[[int], None]]  # (label, total) -> per-frame callback


def consent_gate(film: Film, skip_unconsented: bool, shot_ids: list[str] | None = None) -> tuple[Film, list[Shot]]:
    """Return the film restricted to shots that may be rendered, and the shots left out.

    Without ``skip_unconsented`` any unconsented shot stops the run before any work.
    """
    wanted = film.cut if shot_ids is None else tuple(shot_ids)
    refused = [film.shots[s] for s in wanted if not film.shots[s].consented]
    if refused and not skip_unconsented:
        raise ConsentRefused([(s.id, s.file, s.source.contributor, s.source.consent) for s in refused])
    if not refused:
        return film, []
    kept_cut = tuple(s for s in film.cut if film.shots[s].consented)
    if not kept_cut:
        raise UsageError("no shot of the cut has consent granted; nothing can be rendered")
    problems = [Problem(file=shot.file, field="transition.dissolve", message=message + " once unconsented "
                        "shots are left out", fix=fix, value=shot.dissolve_frames, has_value=True)
                for shot, message, fix in dissolve_problems([film.shots[s] for s in kept_cut])]
    if problems:
        raise ValidationFailed(problems)
    return dataclasses.replace(film, cut=kept_cut), refused


def select_shots(film: Film, shot_ids: list[str]) -> list[str]:
    unknown = [s for s in shot_ids if s not in film.shots]
    if unknown:
        raise UsageError(f"no shot named {', '.join(unknown)}; shots are: {', '.join(sorted(film.shots))}")
    return shot_ids


def make_takes(film: Film, shot_ids: list[str], progress: Progress | None = None) -> tuple[dict[str, Take], list[str]]:
    """Make (or reuse) the take of each shot; return the takes and the ids actually generated."""
    store = TakeStore(film.root)
    takes, made = {}, []
    for shot_id in shot_ids:
        shot = film.shots[shot_id]
        callback = progress(f"{shot_id} ({shot.kind})", shot.frames) if progress else None
        takes[shot_id], generated = make_take(film, shot, store, callback)
        if generated:
            made.append(shot_id)
    return takes, made


def existing_takes(film: Film) -> dict[str, Take]:
    store = TakeStore(film.root)
    takes = {s: store.latest(s) for s in film.cut}
    missing = [s for s, take in takes.items() if take is None]
    if missing:
        raise UsageError(f"no take yet for {', '.join(missing)}\n    fix: run racines render first")
    return takes


def export_edit(film: Film, takes: dict[str, Take]) -> tuple[otio.schema.Timeline, list[Path]]:
    """Write the timeline as .otio and CMX 3600 .edl under edl/; return it and the files written."""
    edl_dir = film.root / EDL_DIR
    sweep_partials(edl_dir)  # leftovers of a run that was killed mid-write
    timeline = build_timeline(film, takes, edl_dir)
    otio_path = edl_dir / f"{film.slug()}.otio"
    edl_path = edl_dir / f"{film.slug()}.edl"
    with atomic_path(otio_path) as tmp:
        otio.adapters.write_to_file(timeline, str(tmp), adapter_name="otio_json")
    with atomic_path(edl_path) as tmp:
        tmp.write_text(edl_text(timeline, film.rate), encoding="utf-8")
    return timeline, [otio_path, edl_path]


def render_film(film: Film, timeline: otio.schema.Timeline, review: bool = True,
                progress: Progress | None = None) -> Deliverables:
    sweep_partials(film.root / RENDERS_DIR)
    total = round(timeline.duration().value)
    callback = progress("film", total) if progress else None
    return render_timeline(timeline, film.root / EDL_DIR, film.root / RENDERS_DIR, film.slug(),
                           film.width, film.height, film.rate, review=review, on_frame=callback)
