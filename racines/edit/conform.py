"""Bring the editor's cut back into the shot files.

The edited timeline (EDL, FCP 7 XML or .otio) is read with OTIO's adapters. Each event is
matched to a take by its reel (what NLEs conform by), else by its media file name, else by
a clip name that is a take's name (s010_v003); never by guess: an event nothing matches is
reported as unknown. From the take frames each event
uses, dissolves included, come the shot's trims, its dissolve into the next shot, the cut
order and the shots removed. Trims within the handles need no new take; a shot that runs
past its handles gets a longer duration, so the next render makes a take that covers it.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from contextlib import ExitStack
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from racines.core.reading import Unreadable, read_limited
from racines.edit.edl import TC
from racines.edit.text import one_line
from racines.edit.timecode import to_frames
from racines.errors import UsageError, shorten
from racines.film.model import Film
from racines.takes.store import Take, TakeStore

ADAPTERS = {".edl": "cmx_3600", ".xml": "fcp_xml", ".otio": "otio_json", ".aaf": "AAF"}
#: cuts are refused past these bounds before a reader sees them: OTIO's EDL and XML readers slow
#: down faster than the file grows, and its JSON reader overflows the C stack (a crash, not an
#: error) on deep nesting. A feature film's EDL is a few hundred kB and nests nothing.
MAX_CUT_BYTES = {".edl": 4_000_000, ".xml": 16_000_000, ".otio": 16_000_000, ".aaf": 64_000_000}
MAX_EVENTS = 5000
MAX_JSON_DEPTH = 64
REEXPORT = "export the cut again (one video track, cuts and dissolves)"


@dataclass(frozen=True)
class CutEvent:
    """One clip of the edited cut, with the media frames it uses (dissolves included)."""

    position: int
    name: str
    reel: str | None
    media_name: str | None
    used_in: int
    used_out: int            # exclusive
    dissolve_after: int      # frames of the transition into the next clip; 0 for a cut
    record_in: int


@dataclass
class ShotUpdate:
    shot_id: str
    trim: tuple[int, int] | None = None      # new (head, tail)
    duration: int | None = None              # new frames, when the cut runs past the handles
    dissolve: int | None = None              # new dissolve into the next shot (0: cut)


@dataclass
class ConformReport:
    cut: list[str]
    updates: dict[str, ShotUpdate] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)      # what changed, for people
    unknown: list[str] = field(default_factory=list)    # events matching no take

    @property
    def changed(self) -> bool:
        return bool(self.updates) or bool(self.lines)


def read_cut(path: Path, rate: Fraction) -> list[CutEvent]:
    """The events of an edited timeline, whatever tool wrote it. The file is checked before
    OTIO's adapter reads it (size, nesting, event count, EDL lines), and its events after."""
    suffix = path.suffix.lower()
    adapter = ADAPTERS.get(suffix)
    if adapter is None:
        raise UsageError(f"{path}: cannot tell the format from the suffix '{shorten(path.suffix, 20)}'\n"
                         f"    fix: give a file ending in {', '.join(ADAPTERS)}")
    try:
        data = read_limited(path, MAX_CUT_BYTES[suffix])
    except Unreadable as exc:
        raise UsageError(f"{path}: {exc}\n    fix: {exc.fix}") from None
    text = None
    if adapter != "AAF":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # older Avids write Latin-1; every byte is a character
        _check_text_cut(path, suffix, text, rate)
    options = {"rate": float(rate), "ignore_timecode_mismatch": True} if adapter == "cmx_3600" else {}
    try:
        if text is None:
            timeline = otio.adapters.read_from_file(str(path), adapter_name=adapter, **options)
        else:
            timeline = otio.adapters.read_from_string(text, adapter_name=adapter, **options)
    except Exception as exc:  # noqa: BLE001 - any adapter failure is the file's fault here
        raise UsageError(f"{path}: cannot read this {adapter} file: {type(exc).__name__}: "
                         f"{shorten(one_line(str(exc)), 300)}\n    fix: {REEXPORT}") from None
    if not isinstance(timeline, otio.schema.Timeline):
        raise UsageError(f"{path}: the file holds no timeline (an OTIO {type(timeline).__name__})\n    fix: {REEXPORT}")
    tracks = [t for t in timeline.video_tracks() if t.enabled]
    if not tracks:
        raise UsageError(f"{path}: the file has no video track\n    fix: {REEXPORT}")
    if len(tracks[0]) > MAX_EVENTS:
        raise UsageError(f"{path}: the cut has {len(tracks[0])} items, more than the {MAX_EVENTS} racines reads\n"
                         f"    fix: {REEXPORT}")
    events = events_of(tracks[0])
    for event in events:
        if event.used_out < event.used_in:
            raise UsageError(f"{path}: event {event.position + 1} '{shorten(one_line(event.name), 60)}': its out "
                             f"point comes before its in point (frames {event.used_in} to {event.used_out})\n"
                             f"    fix: {REEXPORT}")
    return events


EDL_EVENT = re.compile(rf"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(C|D|W\d+|K|KB|KO)\s+(\d*)\s*({TC})\s+({TC})\s+({TC})\s+({TC})\s*$")


def _check_text_cut(path: Path, suffix: str, text: str, rate: Fraction) -> None:
    """What the adapters would take badly: an EDL event whose out comes before its in (read as a
    trim), too many events, an OTIO file nested deep enough to crash its reader."""
    if suffix == ".edl":
        count = 0
        for number, line in enumerate(text.splitlines(), 1):
            match = EDL_EVENT.match(line)
            if not match:
                continue
            count += 1
            if count > MAX_EVENTS:
                raise UsageError(f"{path}: more than {MAX_EVENTS} events, more than racines reads\n    fix: {REEXPORT}")
            timecodes = match.groups()[5:]  # source in, source out, record in, record out
            try:
                frames = [to_frames(timecode, rate) for timecode in timecodes]
            except ValueError:
                continue  # not a timecode at this rate: the adapter says so
            for what, first in (("source", 0), ("record", 2)):
                if frames[first + 1] < frames[first]:
                    raise UsageError(f"{path}:{number}: event {match.group(1)}: the {what} out {timecodes[first + 1]} "
                                     f"comes before the {what} in {timecodes[first]}\n"
                                     f"    fix: correct the event's timecodes, or {REEXPORT}")
    elif suffix == ".xml":
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            at = exc.position[0] if exc.position else "?"
            raise UsageError(f"{path}:{at}: not well-formed XML ({shorten(str(exc), 200)})\n    fix: {REEXPORT}") \
                from None
        count = sum(1 for _ in root.iter("clipitem"))
        if count > MAX_EVENTS:
            raise UsageError(f"{path}: {count} clips, more than the {MAX_EVENTS} racines reads\n    fix: {REEXPORT}")
    elif suffix == ".otio":
        depth = _json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise UsageError(f"{path}: the JSON nests {depth} levels deep, more than the {MAX_JSON_DEPTH} an OTIO "
                             f"file needs\n    fix: {REEXPORT}")
        try:
            json.loads(text)
        except ValueError as exc:
            where = f"{path}:{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else str(path)
            raise UsageError(f"{where}: not valid JSON ({shorten(str(exc), 200)})\n    fix: {REEXPORT}") from None


def _json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text, in one pass (strings skipped)."""
    depth = deepest = 0
    for token in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        char = token.group(0)
        if char == "[" or char == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif char == "]" or char == "}":
            depth -= 1
    return deepest


def events_of(track: otio.schema.Track) -> list[CutEvent]:
    items = list(track)
    where = track.range_of_all_children()  # once: range_in_parent per clip is quadratic in the cut
    events = []
    for index, item in enumerate(items):
        if not isinstance(item, otio.schema.Clip):
            continue
        before = items[index - 1] if index > 0 and isinstance(items[index - 1], otio.schema.Transition) else None
        after = items[index + 1] if index + 1 < len(items) and isinstance(items[index + 1], otio.schema.Transition) else None
        source = item.source_range or item.trimmed_range()
        used_in = _frames(source.start_time) - (_frames(before.in_offset) if before else 0)
        used_out = _frames(source.end_time_exclusive()) + (_frames(after.out_offset) if after else 0)
        dissolve = _frames(after.in_offset) + _frames(after.out_offset) if after else 0
        reference = item.media_reference
        media_name = None
        if isinstance(reference, otio.schema.ExternalReference) and reference.target_url:
            media_name = Path(reference.target_url.replace("file://", "")).name
        reel = (item.metadata.get("cmx_3600") or {}).get("reel") or (item.metadata.get("racines") or {}).get("reel")
        events.append(CutEvent(len(events), item.name, reel, media_name, used_in, used_out, dissolve,
                               _frames(where[item].start_time)))
    return events


def _frames(time: otio.opentime.RationalTime) -> int:
    return round(time.value)


def take_index(film: Film) -> tuple[dict[str, Take], dict[str, Take]]:
    """Every take of every shot file, by reel and by media file name."""
    store = TakeStore(film.root)
    by_reel, by_name = {}, {}
    for shot_id in film.shots:
        for take in store.takes(shot_id):
            by_reel[take.reel] = take
            by_name[take.media.name] = take
    return by_reel, by_name


def compare(film: Film, events: list[CutEvent], selected: dict[str, Take]) -> ConformReport:
    """The difference between the film's cut and the edited one, shot by shot."""
    by_reel, by_name = take_index(film)
    matched: list[tuple[CutEvent, Take]] = []
    report = ConformReport(cut=[])
    for event in events:
        take = by_reel.get(event.reel or "") or by_name.get(event.media_name or "") or by_name.get(f"{event.name}.mov")
        if take is None:
            name, reel = shorten(one_line(event.name), 60), shorten(one_line(event.reel or "-"), 40)
            where = f"event {event.position + 1} '{name}' (reel {reel}, record frame {event.record_in})"
            report.unknown.append(f"{where}: no take has this reel or file; left out, not guessed")
            continue
        if take.shot_id in report.cut:
            report.lines.append(f"{take.shot_id}: used twice in the cut; racines keeps its first use")
            continue
        report.cut.append(take.shot_id)
        matched.append((event, take))

    old_cut = list(film.cut)
    for shot_id in old_cut:
        if shot_id not in report.cut:
            report.lines.append(f"{shot_id}: removed from the cut")
    for shot_id in report.cut:
        if shot_id not in old_cut:
            report.lines.append(f"{shot_id}: added to the cut")
    kept_old = [s for s in old_cut if s in report.cut]
    kept_new = [s for s in report.cut if s in old_cut]
    if kept_old != kept_new:
        for shot_id in kept_new:
            if kept_old.index(shot_id) != kept_new.index(shot_id):
                report.lines.append(f"{shot_id}: moved from position {old_cut.index(shot_id) + 1} "
                                    f"to {report.cut.index(shot_id) + 1}")

    for position, (event, take) in enumerate(matched):
        shot = film.shots[take.shot_id]
        update = ShotUpdate(shot.id)
        current = selected.get(shot.id)
        if current is not None and current.folder != take.folder:
            report.lines.append(f"{shot.id}: the cut uses take {take.version}, racines uses {current.version} "
                                f"(racines approve {shot.id} {take.version} if that is intended)")
        handles, frames = take.info.handles, take.info.shot_frames
        head, tail = event.used_in - handles, handles + frames - event.used_out
        beyond_head, beyond_tail = max(0, -event.used_in), max(0, event.used_out - take.frames)
        if beyond_head or beyond_tail:
            update.duration = event.used_out - event.used_in
            update.trim = (0, 0)
            report.lines.append(f"{shot.id}: runs {beyond_head + beyond_tail} frames past its handles "
                                f"(head {beyond_head}, tail {beyond_tail}): duration {shot.frames} -> "
                                f"{update.duration}, a new take will be made")
        elif (head, tail) != (shot.trim_head, shot.trim_tail):
            update.trim = (head, tail)
            for end, old, new in (("head", shot.trim_head, head), ("tail", shot.trim_tail, tail)):
                if old != new:
                    change = new - old
                    report.lines.append(f"{shot.id}: {end} {'trimmed' if change > 0 else 'extended'} by "
                                        f"{abs(change)} frames (trim.{end} {old} -> {new})")
        dissolve = 0 if position == len(matched) - 1 else event.dissolve_after
        if dissolve != shot.dissolve_frames:
            update.dissolve = dissolve
            report.lines.append(f"{shot.id}: cut into the next shot (was a {shot.dissolve_frames}-frame dissolve)"
                                if not dissolve else
                                f"{shot.id}: dissolve into the next shot {shot.dissolve_frames} -> {dissolve} frames")
        if update.trim is not None or update.duration is not None or update.dissolve is not None:
            report.updates[shot.id] = update
    return report



def refuse_unmatched(report: ConformReport, path: Path) -> None:
    """A cut none of whose events is a take of this film (another project's, a recut from the
    camera files) would empty the film's cut: refuse it, naming what it holds."""
    if report.cut:
        return
    if not report.unknown:
        raise UsageError(f"{path}: the cut holds no clip on its video track; nothing was written\n"
                         f"    fix: {REEXPORT}")
    shown = [f"    unknown: {shorten(line, 160)}" for line in report.unknown[:10]]
    if len(report.unknown) > 10:
        shown.append(f"    ... and {len(report.unknown) - 10} more")
    raise UsageError("\n".join([f"{path}: no event of this cut matches a take of the film (by reel, file or take "
                                "name), so it would empty the cut; nothing was written", *shown,
                                "    fix: conform a cut made from racines' exports (edl/), whose reels name the takes, "
                                "in the project that made them (renders/takes/ must hold them)"]))


def new_texts(film: Film, report: ConformReport) -> dict[Path, str]:
    """The shot files the report changes, as they would be written: the new cut and the shots'
    trims, durations and dissolves, each file's comments and layout kept (ruamel.yaml round
    trip). Nothing is written: the caller checks them first (see :func:`write_texts`)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    changed: dict[Path, object] = {}
    if report.cut != list(film.cut):
        path = film.root / "shots" / "film.yaml"
        data = yaml.load(path.read_text(encoding="utf-8"))
        cut = CommentedSeq(report.cut)
        cut.fa.set_flow_style()
        data["cut"] = cut
        changed[path] = data
    for update in report.updates.values():
        path = film.root / film.shots[update.shot_id].file
        data = yaml.load(path.read_text(encoding="utf-8"))
        if update.duration is not None:
            data["duration"] = update.duration
        if update.trim is not None:
            if update.trim == (0, 0):
                data.pop("trim", None)
            else:
                trim = CommentedMap(head=update.trim[0], tail=update.trim[1])
                trim.fa.set_flow_style()
                data["trim"] = trim
        if update.dissolve is not None:
            if update.dissolve:
                transition = CommentedMap(dissolve=update.dissolve)
                transition.fa.set_flow_style()
                data["transition"] = transition
            else:
                data["transition"] = "cut"
        changed[path] = data
    texts = {}
    for path, data in changed.items():
        buffer = io.StringIO()
        yaml.dump(data, buffer)
        texts[path] = buffer.getvalue()
    return texts


def write_texts(texts: dict[Path, str]) -> list[Path]:
    """Replace the files: all are written before any is moved into place."""
    from racines.core.atomic import atomic_path

    with ExitStack() as stack:
        for path, text in texts.items():
            tmp = stack.enter_context(atomic_path(path))
            tmp.write_text(text, encoding="utf-8")
    return list(texts)


def apply(film: Film, report: ConformReport) -> list[Path]:
    """Write what the report changes into the shot files (unchecked: see pipeline.conform_cut)."""
    return write_texts(new_texts(film, report))
