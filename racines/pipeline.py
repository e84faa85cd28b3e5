"""The film's phases, in order: check consent, make takes, assemble, export, render.

Each phase calls one layer; the CLI only parses options and reports. Nothing here runs
before :func:`racines.film.loader.load_film` has accepted every shot file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import opentimelineio as otio
from PIL import Image

from racines.core.atomic import atomic_path, sweep_partials
from racines.core.lock import project_lock
from racines.edit.bundle import write_bundle
from racines.edit.conform import ConformReport, compare, new_texts, read_cut, refuse_unmatched, write_texts
from racines.edit.conform_sound import compare_sound, read_sound_cut, sound_texts, with_picture
from racines.edit.exports import export_texts, write_aaf, write_if_changed
from racines.edit.timeline import build_timeline
from racines.errors import ConsentRefused, Problem, RacinesError, RenderFailed, UsageError, ValidationFailed
from racines.film.images import DecodedImages
from racines.film.loader import dissolve_problems, load_film
from racines.film.model import Film, Shot
from racines.film.recordings import only_consented, recording_notes, unconsented
from racines.film.schema import models_of
from racines.generators import derives_from_takes, get_generator
from racines.generators.diffusion.base import check_final
from racines.media import presets
from racines.media.ffmpeg import FrameWriter, raw_input
from racines.media.probe import read_tags
from racines.render.deliver import PIECES_DIR, Deliverables, Subtitles, SubtitleTrack, render_timeline
from racines.sound.mix import SOUND_DIR, mix_summary, mix_timeline
from racines.subtitles.check import SubtitleReport, check_subtitles, declared_timeline, subtitle_languages
from racines.subtitles.deliver import (
    Sidecars,
    burn_in,
    burn_in_path,
    sidecars_of,
    subtitles_key,
    up_to_date,
    write_film_sidecars,
)
from racines.takes.cache import HashCache
from racines.takes.make import make_take
from racines.takes.resolve import Resolver, ShotState, describe_change, film_status, last_take_at, shot_takes, takes_for_cut  # noqa: F401 - where shots stand, re-exported for the batch and the CLI
from racines.takes.reviews import REVIEWS_DIR, load_review
from racines.takes.sheets import STRIP_WIDTH, contact_strip, film_sheet, sample_indices, shrink
from racines.takes.store import Take, TakeStore
from racines.training.consent import Withdrawal, unaccounted, with_training_consent, withdrawals  # noqa: F401 - unaccounted for the CLI
from racines.training.dataset import check_datasets
from racines.training.lora_manifest import lora_dataset

EDL_DIR = "edl"
RENDERS_DIR = "renders"

Progress = Callable[[str, int], Callable[[int], None]]  # (label, total) -> per-frame callback


def load(root: Path, profile: str | None = None, models: bool = False, texts: dict[Path, str] | None = None,
         decoded: DecodedImages | None = None) -> Film:
    """Load and validate the project for a run at ``profile`` (None: the film's and shots' own),
    with the generators' rules: a final: block's shapes and, with ``models`` (a render, a
    validation), the presence of the models the run needs. ``texts``: shot files as they would
    be rewritten; ``decoded``: the photographs known to decode whole (see load_film)."""
    film = load_film(root, profile, check=functools.partial(check_final, models=models), texts=texts,
                     decoded=decoded)
    return with_training_consent(film)  # a shot naming a LoRA learned from a withdrawn photograph is withheld


def validate(root: Path, profile: str | None = None) -> Film:
    """``racines validate``: the project at ``profile`` with the models it needs, and the
    decisions in shots/reviews/; the photographs that decoded are remembered once all passed."""
    decoded = DecodedImages(Path(root).resolve())
    film = load(root, profile, models=True, decoded=decoded)
    check_reviews(film)
    check_datasets(film)  # training sets: datasets/*.yaml
    decoded.save()
    return film


def check_reviews(film: Film) -> None:
    """Read every decision file in shots/reviews/ as the commands that use them will, and raise
    :class:`ValidationFailed` with all their problems at once (racines validate)."""
    folder = film.root / REVIEWS_DIR
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
        try:
            load_review(film.root, path.stem)
        except ValidationFailed as exc:
            problems += exc.problems
        except UsageError as exc:
            where = path.relative_to(film.root).as_posix()
            message, _, fix = str(exc).removeprefix(f"{where}: ").partition("\n    fix: ")
            problems.append(Problem(file=where, field="", message=message, fix=fix))
    if problems:
        raise ValidationFailed(problems)


def missing_final_models(film: Film) -> dict[str, list[str]]:
    """Models that final: blocks name but this machine lacks, by model name -> shot ids
    (for a note when validating at the draft profile)."""
    from racines.models.resolve import ModelMissing, ModelRefused, UnknownModel, entry_of, resolve

    missing: dict[str, list[str]] = {}
    for shot in film.shots.values():
        for name in models_of(shot.final) if shot.final is not None and not shot.renders_final else ():
            try:
                resolve(name, entry_of(film, name), film.root)
            except (ModelMissing, ModelRefused, UnknownModel):
                missing.setdefault(name, []).append(shot.id)
    return missing


def generator_notes(film: Film, shot_ids: list[str] | None = None) -> list[str]:
    """What the generators say about the shots this run makes, before they are made (a diffusion
    clip stretched into slow motion...), as ``"<shot file>: <note>"`` lines."""
    notes = []
    for shot_id in film.cut if shot_ids is None else shot_ids:
        shot = film.shots[shot_id]
        says = getattr(get_generator(shot.kind), "notes", None)
        notes += [f"{shot.file}: {note}" for note in (says(shot, film) if says else [])]
    return notes


def consent_gate(film: Film, skip_unconsented: bool, shot_ids: list[str] | None = None) -> tuple[Film, list[Shot]]:
    """Return the film restricted to shots that may be rendered, and the shots left out.

    Without ``skip_unconsented`` any unconsented shot stops the run before any work. For the
    whole cut (no ``shot_ids``), the same holds for voices and music (film.recordings).
    """
    wanted = film.cut if shot_ids is None else tuple(shot_ids)
    refused = [film.shots[s] for s in wanted if not film.shots[s].consented]
    if refused and not skip_unconsented:
        raise ConsentRefused([(s.id, s.file, s.source.contributor if s.source else "",
                               s.source.consent if s.source else "granted") for s in refused],
                             {s.id: s.withheld for s in refused if s.withheld})
    if not refused:
        return (film if shot_ids else only_consented(film, skip_unconsented)), []
    kept_cut = tuple(s for s in film.cut if film.shots[s].consented)
    if not kept_cut:
        raise UsageError("no shot of the cut has consent granted; nothing can be rendered")
    problems = [Problem(file=shot.file, field="transition.dissolve", message=message + " once unconsented "
                        "shots are left out", fix=fix, value=shot.dissolve_frames, has_value=True)
                for shot, message, fix in dissolve_problems([film.shots[s] for s in kept_cut])]
    if problems:
        raise ValidationFailed(problems)
    kept = dataclasses.replace(film, cut=kept_cut)
    return (kept if shot_ids else only_consented(kept, skip_unconsented)), refused


def lora_withdrawals(film: Film) -> list[tuple[Withdrawal, list[str]]]:
    """Each photograph a LoRA the shots name learned from whose consent is no longer granted, with
    every take made with that LoRA ('s020 v001'), found by the LoRA's identity in the takes' keys
    (its tensors' sha256; the whole file's for takes keyed before)."""
    found = withdrawals(film)
    if not found:
        return []
    store, hashes = TakeStore(film.root), HashCache.for_project(film.root)
    out = []
    for path, items in found.items():
        identities = {items[0].tensor_sha256, hashes.sha256(path)}
        made = [f"{take.shot_id} {take.version}" for shot_id in sorted(film.shots) for take in store.takes(shot_id)
                if identities & {str(v) for k, v in take.info.cache_inputs.items() if k.startswith("lora ")}]
        out += [(withdrawal, made) for withdrawal in items]
    hashes.save()
    return out


def take_loras(film: Film, take: Take) -> list[tuple[str, str, str, list[str]]]:
    """The LoRAs a take was made with: (path as the shot file writes it, identity in its key,
    dataset name, whose photographs it learned from); the dataset is empty when unknown."""
    weights = film.shots[take.shot_id].weights if take.shot_id in film.shots else {}
    out = []
    for name, identity in take.info.cache_inputs.items():
        if name.startswith("lora "):
            path = weights.get(name[5:])
            dataset = lora_dataset(path) if path is not None and path.is_file() else None
            out.append((name[5:], str(identity), dataset.name if dataset else "", dataset.contributors() if dataset else []))
    return out


def select_shots(film: Film, shot_ids: list[str]) -> list[str]:
    unknown = [s for s in shot_ids if s not in film.shots]
    if unknown:
        raise UsageError(f"no shot named {', '.join(unknown)}; shots are: {', '.join(sorted(film.shots))}")
    return shot_ids


def make_takes(film: Film, shot_ids: list[str], progress: Progress | None = None) -> tuple[dict[str, Take], list[str]]:
    """Make (or reuse) the take of each shot; return the takes and the ids actually generated.

    Shots made from the other takes in the cut (the end credits) come last.
    """
    store = TakeStore(film.root)
    hashes = HashCache.for_project(film.root)
    ordered = sorted(shot_ids, key=lambda s: derives_from_takes(film.shots[s].kind))
    takes, made, failed = {}, [], {}
    try:
        for shot_id in ordered:
            shot = film.shots[shot_id]
            derived = derived_for(film, store, shot, hashes)
            callback = progress(f"{shot_id} ({shot.kind})", shot.frames) if progress else None
            try:
                takes[shot_id], generated = make_take(film, shot, store, hashes, derived, callback)
            except Exception as exc:  # noqa: BLE001 - one shot's failure must not stop the others
                failed[shot_id] = exc  # make_take recorded it beside the shot's takes
                continue
            if generated:
                made.append(shot_id)
    finally:
        hashes.save()
    if failed:
        lines = [f"{len(failed)} shot{'s' if len(failed) > 1 else ''} failed; the other takes were made and kept:"]
        lines += [f"  {shot_id}: " + (str(exc) if isinstance(exc, RacinesError) else f"{type(exc).__name__}: {exc}")
                  for shot_id, exc in failed.items()]
        lines.append("    fix: read the error above (racines status --why keeps it), mend the shot, render again")
        raise RenderFailed("\n".join(lines)) from next(iter(failed.values()))
    return {s: takes[s] for s in shot_ids}, made


def derived_for(film: Film, store: TakeStore, derived_shot: Shot, hashes: HashCache | None = None) -> object:
    """What the shot's generator derives from the manifests of the takes the cut uses (the
    credits card's lines); None for a generator that does not derive from other takes."""
    return Resolver(film, store, hashes).derived(derived_shot.id)


def cut_take(film: Film, store: TakeStore, hashes: HashCache, shot: Shot, current: Take | None = None) -> Take | None:
    """The take the cut uses (see :mod:`racines.takes.resolve`)."""
    return Resolver(film, store, hashes).cut_take(shot.id, current)


def selected_takes(film: Film, current: dict[str, Take] | None = None) -> dict[str, Take]:
    """The take each shot of the cut uses, each still fitting its shot; ``current``: make_takes' takes."""
    return takes_for_cut(film, current)


def export_edit(film: Film, takes: dict[str, Take], aaf: bool = False,
                on_event: OnEvent = lambda event: None) -> tuple[otio.schema.Timeline, list[Path]]:
    """Write the timeline as .otio, CMX 3600 .edl and FCP 7 .xml under edl/ (and .aaf when
    asked: writing AAF is slow, so renders leave it to racines edl); return it and the files
    that changed."""
    timeline = cut_timeline(film, takes)
    return timeline, write_edit(film, timeline, aaf, on_event)


def cut_timeline(film: Film, takes: dict[str, Take]) -> otio.schema.Timeline:
    """The cut as an OTIO timeline whose media paths are relative to edl/."""
    return build_timeline(film, takes, film.root / EDL_DIR)


def write_edit(film: Film, timeline: otio.schema.Timeline, aaf: bool = False,
               on_event: OnEvent = lambda event: None) -> list[Path]:
    """Write ``timeline`` as .otio, .edl and .xml (and .aaf) under edl/, and the subtitles of
    each of the film's languages beside them (.srt, .vtt, .ttml); the files that changed. What
    the subtitles lack (a voice's transcript, a draft's review) is said as notices."""
    edl_dir = film.root / EDL_DIR
    sweep_partials(edl_dir)  # leftovers of a run that was killed mid-write
    subtitles, notes = write_film_sidecars(film, timeline, edl_dir, subtitle_languages(film))  # before: the timeline names them
    for note in notes:
        on_event(Event(f"subtitles: {note}", notice=True))
    texts = export_texts(timeline, film.rate, film.drop_frame, edl_dir, portable=False)
    written = [edl_dir / f"{film.slug()}.{suffix}" for suffix, text in texts.items()
               if write_if_changed(edl_dir / f"{film.slug()}.{suffix}", text)] + subtitles
    for gone in edl_dir.glob(f"{film.slug()}.A*.edl"):  # an audio track's EDL, of a track the film lost
        if gone.name[len(film.slug()) + 1:] not in texts:
            gone.unlink()
    aaf_path = edl_dir / f"{film.slug()}.aaf"
    if aaf and (written or _older(aaf_path, edl_dir / f"{film.slug()}.otio")):
        # binary, so not compared: it follows the .otio, which renders rewrite without it
        written.append(write_aaf(timeline, aaf_path))
    return written


def _older(path: Path, than: Path) -> bool:
    """``path`` is missing, or was written before ``than``."""
    try:
        return path.stat().st_mtime_ns < than.stat().st_mtime_ns
    except FileNotFoundError:
        return True


def bundle_edit(film: Film, takes: dict[str, Take], destination: Path | None = None) -> Path:
    """A hand-over folder (or .otioz) with the timeline and the media it uses, relative paths."""
    edl_dir = film.root / EDL_DIR
    timeline = build_timeline(film, takes, edl_dir)
    write_film_sidecars(film, timeline, edl_dir, subtitle_languages(film))  # the timeline names them, as in edl/
    subtitles = [path for sidecar in film_sidecars(film) for path in sidecar.files.values() if path.exists()]
    return write_bundle(timeline, edl_dir, film.rate, film.drop_frame,
                        destination or edl_dir / f"{film.slug()}_bundle", film.slug(), beside=subtitles)


def conform_cut(film: Film, edited: Path, write: bool) -> ConformReport:
    """Compare the editor's cut with the film; write the shot files unless ``write`` is False."""
    events = read_cut(edited, film.rate)
    selected = Resolver(film).cut_takes()
    report = compare(film, events, {s: t for s, t in selected.items() if t is not None})
    refuse_unmatched(report, edited)
    # the cut's sound: a shot's voices follow their shot; what the editor moved is written back
    moves, lines, notes = compare_sound(film, with_picture(film, report.cut, report.updates),
                                        read_sound_cut(edited, film))
    report.lines += lines
    report.unknown += notes
    texts = sound_texts(film, moves, new_texts(film, report) if report.changed else {})
    if texts:
        try:
            load(film.root, texts=texts)  # the files as they would be; a dry run is told the same
        except ValidationFailed as exc:
            raise UsageError(f"{edited}: this cut would leave the shot files invalid, so nothing was written:\n"
                             f"{exc}") from None
    if write and texts:
        write_texts(texts)
    return report


def render_film(film: Film, timeline: otio.schema.Timeline, review: bool = True,
                progress: Progress | None = None, workers: int = 1, master: bool = True) -> Deliverables:
    """Render the master and the review copy (or one of them); ``workers`` pieces of the film
    are encoded at once."""
    for folder in (film.root / RENDERS_DIR, film.root / RENDERS_DIR / PIECES_DIR, film.root / RENDERS_DIR / SOUND_DIR):
        sweep_partials(folder)  # what a killed render left (the caller holds the project's lock)
    total = round(timeline.duration().value)
    # the mix first: a sound that cannot be made stops the run before any picture is joined
    sound = mix_timeline(timeline, film.root / EDL_DIR, film.root / RENDERS_DIR, film.rate, total, film.ducking,
                         film.root)
    callback = progress("film", total) if progress else None
    return render_timeline(timeline, film.root / EDL_DIR, film.root / RENDERS_DIR, film.slug(),
                           film.width, film.height, film.rate, review=review, on_frame=callback, workers=workers,
                           master=master, drop_frame=film.drop_frame, sound=sound,
                           subtitles=review_subtitles(film_sidecars(film)))


def film_sidecars(film: Film) -> list[Sidecars]:
    """The subtitle sidecars under edl/ of the film's languages, as the last export wrote them."""
    return sidecars_of(film.root / EDL_DIR, film.slug(), subtitle_languages(film))


def review_subtitles(sidecars: list[Sidecars]) -> Subtitles | None:
    """The review copy's subtitle tracks: each language's SRT, the first language shown by default."""
    if not sidecars:
        return None
    return Subtitles(tuple(SubtitleTrack(s.srt, s.track_language) for s in sidecars), subtitles_key(sidecars))


@dataclasses.dataclass(frozen=True)
class Event:
    """A line of what a run did, for the command line to print or the batch to log; a
    ``notice`` (a shot left out, a wait for the lock) is said apart from the results."""

    text: str
    notice: bool = False


OnEvent = Callable[[Event], None]


@dataclasses.dataclass(frozen=True)
class FilmOptions:
    """What the film step makes, and how many of the film's pieces it encodes at once."""

    master: bool = True
    review: bool = True
    aaf: bool = False        # slow to write: racines edl writes it, renders leave it
    workers: int = 1
    burn_in: tuple[str, ...] = ()    # languages whose subtitles are drawn into a copy of the review copy
    burn_in_fonts: Path | None = None  # the fonts they are drawn with (default: DejaVu)


@dataclasses.dataclass(frozen=True)
class FilmMade:
    takes: dict[str, Take]          # the take each shot of the cut uses
    written: list[Path]             # the exports that changed
    deliverables: Deliverables


def film_step(film: Film, options: FilmOptions, on_event: OnEvent = lambda event: None,
              progress: Progress | None = None, current: dict[str, Take] | None = None) -> FilmMade:
    """The takes the cut uses, the timeline, the exports, then the film: the one film step of
    ``racines render`` and of the batch. ``current``: the takes a render has just made or found."""
    check_burn_in(film, options)
    takes = selected_takes(film, current)
    timeline = cut_timeline(film, takes)
    written = write_edit(film, timeline, options.aaf, on_event)
    for path in written:
        on_event(Event(f"wrote {path.relative_to(film.root)}"))
    result = render_film(film, timeline, review=options.review, progress=progress, workers=options.workers,
                         master=options.master)
    if result.sound is not None and result.sound.fresh:
        for note in recording_notes(film):  # said when the mix is made, not on every render
            on_event(Event(f"sound: {note}", notice=True))
        on_event(Event(f"mixed the sound: {mix_summary(result.sound)}"))
    outputs = [path for path in (result.master, result.review) if path is not None]
    for path in outputs:
        remuxed = "new sound in" if result.sound is not None and result.sound.fresh else "new subtitles in"
        verb = "unchanged" if result.unchanged else remuxed if path in result.remuxed else "wrote"
        on_event(Event(f"{verb} {path.relative_to(film.root)}" + (f" ({result.frames} frames)" if path == outputs[0] else "")
                       + (", the picture as it was" if path in result.remuxed else "")))
    for path in result.stems:
        on_event(Event(f"wrote {path.relative_to(film.root)}"))
    if not result.unchanged:
        on_event(Event(f"{result.pieces_encoded} piece(s) of the film encoded, the others reused"))
    for language in options.burn_in:
        _burn_in(film, result, language, options.burn_in_fonts, on_event)
    return FilmMade(takes, written, result)


def check_burn_in(film: Film, options: FilmOptions) -> None:
    """Refuse, before any work, burn-ins of languages the film has no subtitles in, or without a review copy."""
    if options.burn_in and not options.review:
        raise UsageError("--burn-in draws subtitles into the review copy, which --no-review leaves out\n"
                         "    fix: leave out --no-review or --burn-in")
    languages = subtitle_languages(film)
    for language in options.burn_in:
        if language not in languages:
            raise UsageError(f"--burn-in {language}: the film has no {language} subtitles; its languages are "
                             f"{', '.join(languages) or 'none'}\n    fix: name one of them, or add {language} to "
                             "subtitles: languages in shots/film.yaml with transcripts in it")


def _burn_in(film: Film, result: Deliverables, language: str, fonts: Path | None, on_event: OnEvent) -> None:
    sidecar = next((s for s in film_sidecars(film) if s.language == language), None)
    if sidecar is None or result.review is None:
        raise UsageError(f"--burn-in {language}: no voice of the cut has a {language} transcript, so there are no "
                         f"subtitles to draw\n    fix: run racines subtitles check")
    output = burn_in_path(film.root / RENDERS_DIR, film.slug(), language)
    if up_to_date(output, result.review, sidecar.srt):
        on_event(Event(f"unchanged {output.relative_to(film.root)}"))
        return
    burn_in(result.review, sidecar, output, fonts)
    on_event(Event(f"wrote {output.relative_to(film.root)} ({language} subtitles burned in)"))


@dataclasses.dataclass(frozen=True)
class RenderOptions:
    profile: str | None = None
    shots: tuple[str, ...] = ()      # only these shots' takes, and no film
    skip_unconsented: bool = False
    wait_s: float = 0.0              # for a batch or render holding the project's lock
    film: FilmOptions = FilmOptions()


def render(root: Path, options: RenderOptions, on_event: OnEvent = lambda event: None,
           progress: Progress | None = None) -> FilmMade | None:
    """``racines render``: validate, check consent, take the project's lock, make the takes, then
    the film step (None when only some shots' takes were asked for)."""
    if not (options.film.master or options.film.review):
        raise UsageError("--no-review and --no-master together leave no film to render\n"
                         "    fix: use --shot ID to make takes only")
    decoded = DecodedImages(Path(root).resolve())
    film = load(root, options.profile, models=True, decoded=decoded)
    chosen = select_shots(film, list(options.shots)) if options.shots else None
    if not chosen:
        check_burn_in(film, options.film)  # before any take is made
    unheard = unconsented(film) if not chosen else []
    film, skipped = consent_gate(film, options.skip_unconsented, chosen)
    # checked before the lock: a refused render writes nothing, not even the lock file
    with project_lock(film.root, options.wait_s, lambda line: on_event(Event(line, notice=True)), command="render"):
        decoded.save()  # the next validation or render of these photographs skips decoding them
        for shot in skipped:
            on_event(Event(f"skipped {shot.id}: {'; '.join(shot.consent_reasons())}", notice=True))
        for clip in unheard:
            on_event(Event(f"left out {clip.recording.relpath} ({clip.file}, {clip.field}): consent is "
                           f"'{clip.consent}' for {clip.person}", notice=True))
        wanted = [s for s in (chosen or film.cut) if film.shots[s].consented]
        takes, made = make_takes(film, wanted, progress)
        for note in generator_notes(film, [s for s in wanted if s in made]):
            on_event(Event(f"note: {note}", notice=True))
        for shot_id in wanted:
            state = "new" if shot_id in made else "unchanged"
            on_event(Event(f"take {shot_id} {takes[shot_id].version} ({state}): "
                           f"{takes[shot_id].media.relative_to(film.root)}"))
        if chosen:
            return None
        return film_step(film, options.film, on_event, progress, current=takes)


PREVIEWS_DIR = Path(RENDERS_DIR) / "previews"


def preview_shot(film: Film, shot_id: str, scale: float = 0.25) -> tuple[Path, Path]:
    """A fast low-resolution draft of one shot (H.264 and a contact strip), not a take."""
    shot = film.shots[shot_id]
    width, height = (max(16, round(side * scale / 2) * 2) for side in (film.width, film.height))
    small = dataclasses.replace(film, width=width, height=height)
    derived = derived_for(film, TakeStore(film.root), shot)
    folder = film.root / PREVIEWS_DIR
    movie, sheet = folder / f"{shot_id}.mp4", folder / f"{shot_id}_contact.jpg"
    wanted, samples = set(sample_indices(shot.frames)), []
    with atomic_path(movie) as tmp:
        graph = presets.to_bt709(raw_input(width, height, film.rate_text), "yuv420p")
        with FrameWriter(graph.output(str(tmp), **presets.review_h264()), f"encoding the preview of {shot_id}") as writer:
            for index, frame in enumerate(get_generator(shot.kind).frames(shot, small, derived)):
                writer.write(np.ascontiguousarray(frame))
                if index in wanted:
                    samples.append((index, shrink(frame, STRIP_WIDTH)))
    with atomic_path(sheet) as tmp:
        contact_strip(samples).save(tmp, format="JPEG", quality=88)
    return movie, sheet


def film_contact_sheet(film: Film) -> Path:
    """The whole film as one picture: a row per shot with frames, id, take and status."""
    rows = []
    for state in film_status(film):
        take = state.selected
        label = f"{state.shot_id}\n{take.version if take else 'no take'}  {state.review or ''}\n{state.state}"
        strip_path = take.folder / take.manifest["media"].get("contact_sheet", "") if take else None
        strip = Image.open(strip_path).convert("RGB") if strip_path and strip_path.is_file() else None
        rows.append((label, strip))
    path = film.root / RENDERS_DIR / f"{film.slug()}_contact_sheet.jpg"
    with atomic_path(path) as tmp:
        film_sheet(rows).save(tmp, format="JPEG", quality=90)
    return path


def shot_voices(film: Film, shot_id: str) -> list[dict]:
    """The voices that start with the shot: recording (and its sha256), speaker, language,
    consent, licence, credit; what the take's provenance does not hold (they are not its pixels)."""
    hashes = HashCache.for_project(film.root)
    try:
        return [{"recording": clip.recording.relpath, "sha256": hashes.sha256(clip.recording.path),
                 "person": clip.person, "language": clip.language, "consent": clip.consent,
                 "licence": clip.licence, "credit": clip.credit, "declared_in": f"{clip.file} {clip.field}"}
                for clip in film.sound if clip.shot == shot_id]
    finally:
        hashes.save()


def provenance(film: Film, shot_id: str) -> tuple[Take, dict | None]:
    """The selected take of a shot, and the provenance embedded in its media (None if absent)."""
    take = cut_take(film, TakeStore(film.root), HashCache.for_project(film.root), film.shots[shot_id])
    if take is None:
        raise UsageError(f"no take yet for {shot_id}\n    fix: run racines render --shot {shot_id}")
    comment = read_tags(take.media).get("comment", "")
    prefix = "racines provenance "
    embedded = json.loads(comment[len(prefix):]) if comment.startswith(prefix) else None
    return take, embedded


def subtitles_check(root: Path, languages: list[str] | None = None) -> SubtitleReport:
    """``racines subtitles check``: the cues of each subtitle language on the cut's timeline
    (with the takes the cut uses; before there are any, the cut as the shot files place it)."""
    film = load(root)
    try:
        timeline = cut_timeline(film, selected_takes(film))
    except UsageError:
        timeline = declared_timeline(film)
    return check_subtitles(film, timeline, languages)
