"""The project as the review room shows it: the film, where each shot stands, a shot's takes.

Where shots stand comes from the take resolver, never worked out here. It is computed again
only when something it depends on changed on disk (shot files, photographs, decisions, a
shot's take folder, where a new take or a failure record appears), found by the stat of those
files: a page asked a second time is served from memory, and a page open during a render or a
batch sees each take as it lands. A shot whose decisions file is damaged is shown with the
error, the others as usual.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import opentimelineio as otio

from racines import pipeline
from racines.core.lock import LOCK_FILE
from racines.edit.timecode import to_frames, to_timecode
from racines.edit.timeline import record_ranges
from racines.errors import RacinesError
from racines.film.model import Film, Shot
from racines.review.files import NotServed
from racines.takes.cache import changed_inputs
from racines.takes.card import card_lines
from racines.takes.resolve import Resolver, ShotState, describe_change
from racines.takes.reviews import REVIEWS_DIR, VERSION_PATTERN, Review, load_review
from racines.takes.store import Take, TakeStore

VERSION = re.compile(VERSION_PATTERN)


class TolerantResolver(Resolver):
    """The take resolver, with a shot whose decisions file is damaged read as undecided and
    the error kept for that shot, so that one bad file does not take the film page down."""

    def __init__(self, film: Film, store: TakeStore):
        super().__init__(film, store)
        self.errors: dict[str, str] = {}

    def review(self, shot_id: str) -> Review:
        if shot_id in self.errors:
            return Review(shot_id)
        try:
            return super().review(shot_id)
        except RacinesError as exc:
            self.errors[shot_id] = str(exc)
            return Review(shot_id)


@dataclass(frozen=True)
class Snapshot:
    revision: str                       # changes whenever anything the film page shows changes
    film: Film | None
    error: str = ""                     # why the film could not be loaded
    shots: list[dict] = field(default_factory=list)  # per shot of the cut, in its order
    running: str = ""                   # a render or batch holding the project's lock

    def as_json(self) -> dict:
        counts: dict[str, int] = {}
        for row in self.shots:
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        return {"revision": self.revision, "error": self.error, "running": self.running, "counts": counts,
                "shots": self.shots}


def _stat(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), st.st_mtime_ns, st.st_size, st.st_ino)


def _yaml_files(folder: Path) -> list[tuple]:
    try:
        with os.scandir(folder) as entries:
            return sorted(_stat(Path(entry.path)) for entry in entries if entry.name.endswith(".yaml"))
    except OSError:
        return []


def running(root: Path) -> str:
    """Who holds the project's render lock, as its file says. Looked up, never locked: a render
    taking the lock must not find the review room holding it. The file keeps naming its last
    holder after the lock is released, so the kernel's list of locks says whether it is held."""
    path = root / LOCK_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        pid = int(info["pid"])
        if not _flocked(path, pid):
            return ""
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f"a {info.get('command', 'render')} is running (pid {pid}, since {info.get('since', '?')})"


def _flocked(path: Path, pid: int) -> bool:
    """Whether ``pid`` holds a flock on ``path`` (Linux's /proc/locks; elsewhere: whether it lives)."""
    inode = path.stat().st_ino
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    for line in lines:  # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; "1: -> FLOCK ..." waits
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[4] == str(pid) and fields[5].rsplit(":", 1)[-1] == str(inode):
            return True
    return False


def take_url(take: Take, what: str) -> str:
    return f"/take/{quote(take.shot_id)}/{take.version}/{what}"


def consent_now(shot: Shot) -> str | None:
    return shot.source.consent if shot.source is not None else None


class Project:
    """The project behind one review room; safe to call from the server's threads."""

    def __init__(self, root: Path, profile: str | None = None):
        self.root = Path(root).resolve()
        self.profile = profile
        self.store = TakeStore(self.root)
        self._lock = threading.Lock()
        self._film: Film | None = None
        self._film_error = ""
        self._film_marks: tuple | None = None
        self._marks: tuple | None = None
        self._snapshot: Snapshot | None = None
        self._takes: dict[tuple[str, str], tuple[tuple, Take]] = {}
        self._cut: tuple[tuple, list[dict]] | None = None

    # -- the film and where its shots stand -------------------------------------------------

    def _film_fingerprint(self) -> tuple:
        marks = [*_yaml_files(self.root / "shots"), _stat(self.root / "models.yaml")]
        for shot in self._film.shots.values() if self._film else ():
            marks += [_stat(path) for path in ([shot.source.path] if shot.source else []) + list(shot.assets.values())]
        return tuple(marks)

    def _fingerprint(self) -> tuple:
        marks = list(_yaml_files(self.root / REVIEWS_DIR))
        for shot_id in self._film.shots if self._film else ():
            marks.append(_stat(self.store.shot_folder(shot_id)))
        return tuple(marks)

    def snapshot(self) -> Snapshot:
        with self._lock:
            film_marks = self._film_fingerprint()
            if film_marks != self._film_marks:
                self._load()
                film_marks = self._film_fingerprint()  # with the photographs of the film just loaded
                self._film_marks, self._marks = film_marks, None
            marks, now_running = self._fingerprint(), running(self.root)
            if self._snapshot is None or marks != self._marks or now_running != self._snapshot.running:
                self._snapshot = self._build(now_running)
                self._marks = marks
            return self._snapshot

    def _load(self) -> None:
        try:
            self._film, self._film_error = pipeline.load(self.root, self.profile), ""
        except RacinesError as exc:
            self._film, self._film_error = None, str(exc)

    def _build(self, now_running: str) -> Snapshot:
        film = self._film
        rows: list[dict] = []
        if film is not None:
            resolver = TolerantResolver(film, self.store)
            for shot_id in film.cut:
                try:
                    state = resolver.state(shot_id)
                except (RacinesError, OSError, ValueError) as exc:
                    state = ShotState(shot_id, "error", None, None, (str(exc),), "")
                rows.append(self._row(film.shots[shot_id], state, resolver.errors.get(shot_id, "")))
            resolver.save()
        digest = hashlib.sha1(json.dumps([self._film_error, now_running, rows], sort_keys=True).encode()).hexdigest()
        return Snapshot(digest[:20], film, self._film_error, rows, now_running)

    def _row(self, shot: Shot, state: ShotState, review_error: str) -> dict:
        take = state.selected
        return {"id": shot.id, "kind": shot.kind, "frames": shot.frames, "state": state.state,
                "reasons": list(state.reasons), "selected": take.version if take else None,
                "review": state.review if take else None, "review_error": review_error,
                "consented": shot.consented, "contributor": shot.source.contributor if shot.source else None,
                "thumbnail": take_url(take, "thumbnail.jpg") if take is not None and shot.consented else None}

    def film(self) -> Film:
        film = self.snapshot().film
        if film is None:
            raise NotServed("the film does not load")
        return film

    # -- ids from URLs, checked ---------------------------------------------------------------

    def shot_of(self, shot_id: str) -> Shot:
        film = self.film()
        if shot_id not in film.shots:
            raise NotServed(f"no shot {shot_id!r}")
        return film.shots[shot_id]

    def take(self, shot_id: str, version: str) -> Take:
        """The take ``version`` of a shot of the film; kept in memory while its manifest is
        unchanged (takes are immutable, and media requests come many at a time)."""
        self.shot_of(shot_id)
        if not VERSION.match(version):
            raise NotServed(f"not a version: {version!r}")
        folder = self.store.shot_folder(shot_id) / version
        mark = _stat(folder / "manifest.json")
        with self._lock:
            known = self._takes.get((shot_id, version))
        if known and known[0] == mark:
            return known[1]
        take = next((t for t in self.store.newest_first(shot_id) if t.version == version), None)
        if take is None or mark[1] is None:
            raise NotServed(f"shot {shot_id} has no take {version}")
        with self._lock:
            self._takes[(shot_id, version)] = (mark, take)
        return take

    # -- a shot: its takes, decisions, notes and provenance -----------------------------------

    def review_of(self, shot_id: str) -> tuple[Review, str]:
        try:
            return load_review(self.root, shot_id), ""
        except RacinesError as exc:
            return Review(shot_id), str(exc)

    def shot(self, shot_id: str) -> dict:
        shot = self.shot_of(shot_id)
        snapshot = self.snapshot()
        film = snapshot.film
        assert film is not None
        row = next((r for r in snapshot.shots if r["id"] == shot_id), None)
        if row is None:  # a shot left out of the cut: the resolver still says which take it would use
            resolver = TolerantResolver(film, self.store)
            try:
                state = resolver.state(shot_id)
            except (RacinesError, OSError, ValueError) as exc:
                state = ShotState(shot_id, "error", None, None, (str(exc),), "")
            row = self._row(shot, state, resolver.errors.get(shot_id, ""))
        review, review_error = self.review_of(shot_id)
        takes, previous = [], None
        for take in self.store.takes(shot_id):
            takes.append(self._take_entry(shot, take, previous, review, row["selected"]))
            previous = take
        return {"id": shot.id, "file": shot.file, "kind": shot.kind, "in_cut": shot_id in film.cut,
                "state": row, "review_error": review_error or row["review_error"],
                "consent_now": consent_now(shot), "consented": shot.consented,
                "contributor": shot.source.contributor if shot.source else None,
                "credit": shot.source.credit if shot.source else None,
                "photo": f"/photo/{quote(shot.id)}" if shot.source is not None and shot.consented else None,
                "approved": review.approved, "takes": takes}

    def changes(self, shot_id: str, a: str, b: str) -> list[str]:
        """What differs between two takes' inputs, in the words of ``racines status --why``."""
        before, now = self.take(shot_id, a).info.cache_inputs, self.take(shot_id, b).info.cache_inputs
        return [describe_change(name, before.get(name), now.get(name)) for name in changed_inputs(before, now)]

    def _take_entry(self, shot: Shot, take: Take, previous: Take | None, review: Review, selected: str | None) -> dict:
        info = take.info
        media = shot.consented
        changes = []
        if previous is not None:
            before, now = previous.info.cache_inputs, info.cache_inputs
            changes = [describe_change(name, before.get(name), now.get(name)) for name in changed_inputs(before, now)]
        rate = info.film.frame_rate if info.film else self.film().rate_text
        return {"version": take.version, "created": info.created, "frames": info.frames, "handles": info.handles,
                "rate": rate, "timecode_start": info.media.timecode_start, "profile": info.profile,
                "status": review.status_of(take.version), "note": review.note_of(take.version),
                "by": review.takes.get(take.version, {}).get("by", ""),
                "at": review.takes.get(take.version, {}).get("at", ""),
                "notes": [dict(n, drawing_url=f"/drawing/{quote(shot.id)}/{n['drawing']}" if n.get("drawing") else None)
                          for n in review.notes_of(take.version)],
                "selected": take.version == selected, "approved": take.version == review.approved,
                "thumbnail": take_url(take, "thumbnail.jpg") if media else None,
                "contact": take_url(take, "contact.jpg") if media else None,
                "proxy": take_url(take, "proxy.mp4") if media else None,
                "changes": changes, "provenance": provenance(shot, take)}

    # -- the cut: the review copy and where each shot sits on it ------------------------------

    def review_copy(self) -> Path:
        return self.root / "renders" / f"{self.film().slug()}_review.mp4"

    def cut(self) -> list[dict]:
        """Each shot of the timeline last written (edl/<film>.otio): its first and last frame
        on the record, from edit.timeline.record_ranges, and the record timecodes."""
        film = self.film()
        path = self.root / "edl" / f"{film.slug()}.otio"
        mark = (_stat(path), film.rate, film.timecode_start)
        with self._lock:
            if self._cut and self._cut[0] == mark:
                return self._cut[1]
        try:
            ranges = record_ranges(otio.adapters.read_from_file(str(path)))
        except (OSError, ValueError, otio.exceptions.OTIOError):
            ranges = {}
        start = to_frames(film.timecode_start, film.rate)
        rows = [{"id": shot_id, "first": first, "end": end,
                 "tc_in": to_timecode(start + first, film.rate, film.drop_frame),
                 "tc_out": to_timecode(start + end, film.rate, film.drop_frame)}
                for shot_id, (first, end) in ranges.items()]
        with self._lock:
            self._cut = (mark, rows)
        return rows


def provenance(shot: Shot, take: Take) -> dict:
    """How the take was made, as its manifest says, beside the consent as it stands now."""
    info = take.info
    settings = info.generator.settings
    runs = [run for run in info.generation.get("runs", []) if isinstance(run, dict)]
    source = info.source
    return {
        "photo": source.photo if source else None, "contributor": source.contributor if source else None,
        "credit": source.credit if source else None, "consent_then": source.consent if source else None,
        "consent_now": consent_now(shot),
        "generator": info.generator.description or info.generator.name, "generator_version": info.generator.version,
        "profile": info.profile,
        "models": [str(run.get("model", "")) for run in runs] or list(info.generator.models),
        "pipelines": [f"{run.get('pipeline', '')} on {run.get('device', '?')} {run.get('dtype', '')}".strip()
                      for run in runs if run.get("pipeline")],
        "prompt": str(settings.get("prompt") or ""),
        "enhanced": [str(run["prompt_enhanced"]) for run in runs if run.get("prompt_enhanced")],
        "enhancer": next((str(run["prompt_enhancer"]) for run in runs if run.get("prompt_enhancer")), ""),
        "negative": str(settings.get("negative_prompt") or ""),
        "seed": settings.get("seed"),
        "created": info.created, "machine": dict(info.machine), "software": dict(info.software),
        "cache_key": info.cache_key, "reel": info.media.reel,
        "apparatus": card_lines(info.to_json()),
    }
