"""The director's decisions on takes: statuses, notes and the approved take of each shot.

They live in ``shots/reviews/<shot>.yaml``, one small file per shot, beside the shot files
and committed with them, so that a class working in parallel merges without conflicts. A
decision names the take's version and its cache key, so that it still means the same
pixels on a machine that rendered the take again. The files are validated on reading (a
merge or a hand edit can break them), and decisions are serialised between processes: two
people approving at once each keep their decision.
Notes pinned to a frame of a take (and their drawings, PNGs in ``shots/reviews/<shot>/``)
are appended to the take's list, never replaced by a later decision.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic_core import ErrorDetails

from racines.core.atomic import atomic_path
from racines.core.identity import current_user
from racines.core.lock import short_lock
from racines.core.reading import Unreadable, read_limited
from racines.errors import Problem, UsageError, ValidationFailed, shorten
from racines.takes.store import TakeStore

REVIEWS_DIR = Path("shots") / "reviews"
STATUSES = ("wip", "review", "approved", "retake")
# under renders/ (never committed) rather than beside the reviews; the file is never removed,
# so that a process waiting on it and one arriving later lock the same file
DECISIONS_LOCK = Path("renders") / ".reviews.lock"
VERSION_PATTERN = r"^v\d{3,}$"
# a drawing on a frame: a PNG in shots/reviews/<shot>/, named by the note (never a path)
DRAWING_PATTERN = r"^v\d{3,}-f\d{1,7}-[0-9a-f]{8,32}\.png$"
TIMECODE_PATTERN = r"^(\d{2}:\d{2}:\d{2}[:;]\d{2,3})?$"
MAX_REVIEW_BYTES = 1_000_000
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _hand_written_as_text(value: Any) -> Any:
    """YAML reads a hand-written date or number as something else than text: as text again."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


class Note(BaseModel):
    """A note pinned to a frame of the take (a frame index of its media, handles included)."""
    model_config = ConfigDict(extra="forbid")

    frame: int | None = Field(None, ge=0)
    timecode: str = Field("", pattern=TIMECODE_PATTERN)
    text: str = Field("", max_length=4000)
    drawing: str | None = Field(None, pattern=DRAWING_PATTERN)
    by: str = ""
    at: str = ""

    @field_validator("text", "by", "at", "timecode", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return _hand_written_as_text(value)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["wip", "review", "approved", "retake"] = "wip"
    by: str = ""
    at: str = ""
    note: str = Field("", max_length=4000)
    notes: list[Note] = Field(default_factory=list)  # pinned to frames, oldest first; absent from older files

    @field_validator("by", "at", "note", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return _hand_written_as_text(value)


class ReviewFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approved: str | None = Field(None, pattern=VERSION_PATTERN)
    approved_key: str | None = None
    takes: dict[Annotated[str, StringConstraints(pattern=VERSION_PATTERN)], Decision] = Field(default_factory=dict)

    @field_validator("takes", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


@dataclass
class Review:
    shot_id: str
    approved: str | None = None
    approved_key: str | None = None
    takes: dict[str, dict] = field(default_factory=dict)  # version -> {status, note, by, at}

    def status_of(self, version: str) -> str:
        return self.takes.get(version, {}).get("status", "wip")

    def note_of(self, version: str) -> str:
        return self.takes.get(version, {}).get("note", "")

    def notes_of(self, version: str) -> list[dict]:
        """The notes pinned to frames of a take, oldest first."""
        return self.takes.get(version, {}).get("notes", [])


def review_path(root: Path, shot_id: str) -> Path:
    return Path(root) / REVIEWS_DIR / f"{shot_id}.yaml"


def _problem(where: str, loc: tuple, message: str, value: Any = ..., fix: str = "") -> Problem:
    return Problem(file=where, field=".".join(str(part) for part in loc), message=message,
                   fix=fix or "correct the file (racines review SHOT VERSION STATUS writes it), or restore it from git",
                   value=None if value is ... else value, has_value=value is not ...)


def _explain(where: str, error: ErrorDetails) -> Problem:
    loc, kind = error["loc"], error["type"]
    if kind == "literal_error" and loc[-1] == "status":
        return _problem(where, loc, f"unknown status; allowed: {', '.join(STATUSES)}", error["input"])
    if kind == "extra_forbidden":
        allowed = ", ".join(Decision.model_fields if len(loc) > 1 else ReviewFile.model_fields)
        return _problem(where, loc, f"unknown field; allowed: {allowed}")
    if kind == "dict_type":
        return _problem(where, loc, "expected a mapping" + (" of take versions to decisions" if loc == ("takes",) else ""),
                        error["input"])
    if loc[-1] == "[key]" or loc == ("approved",):
        return _problem(where, loc[:-1] if loc[-1] == "[key]" else loc, "not a take version (v001, v002...)",
                        error["input"])
    return _problem(where, loc, error["msg"], error.get("input", ...))


def load_review(root: Path, shot_id: str) -> Review:
    path = review_path(root, shot_id)
    if not path.is_file():
        return Review(shot_id)
    where = path.relative_to(root).as_posix()
    try:
        # bounded: a review file is a few lines; a date that is no date (2001-02-31) or deep
        # nesting is the YAML's fault, said as such
        data = yaml.load(read_limited(path, MAX_REVIEW_BYTES).decode("utf-8"), Loader=SAFE_LOADER)
    except Unreadable as exc:
        raise UsageError(f"{where}: {exc}\n    fix: {exc.fix}, or restore it from git") from None
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise UsageError(f"{where}: malformed YAML ({shorten(str(exc), 300)})\n"
                         "    fix: correct the file, or restore it from git") from None
    if data is None:
        return Review(shot_id)
    if not isinstance(data, dict):
        raise ValidationFailed([_problem(where, (), "expected a mapping (approved:, approved_key:, takes:)",
                                         fix="restore the file from git")])
    try:
        parsed = ReviewFile.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed([_explain(where, error) for error in exc.errors()]) from None
    takes = {version: decision.model_dump(exclude_defaults=True) | {"status": decision.status}
             for version, decision in parsed.takes.items()}
    return Review(shot_id, parsed.approved, parsed.approved_key, takes)


def save_review(root: Path, review: Review) -> None:
    document = {"approved": review.approved, "approved_key": review.approved_key,
                "takes": {v: review.takes[v] for v in sorted(review.takes)}}
    path = review_path(root, review.shot_id)
    text = (f"# racines review of shot {review.shot_id}: written by racines approve / racines review\n"
            + yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    try:  # read back as the next command will, before it replaces the file: a refusal leaves the old one
        text.encode("utf-8")  # a note from the command line can carry undecodable bytes
        ReviewFile.model_validate(yaml.load(text, Loader=SAFE_LOADER))
    except (UnicodeError, yaml.YAMLError, ValidationError) as exc:
        reason = str(exc).splitlines()[0]
        if isinstance(exc, ValidationError):
            error = exc.errors()[0]
            reason = f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        raise UsageError(f"{path.relative_to(root).as_posix()}: the decision would not read back "
                         f"({shorten(reason, 200)}); the file was left as it was\n"
                         "    fix: write the note as plain UTF-8 text, of at most 4000 characters") from None
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextmanager
def decisions_locked(root: Path) -> Iterator[None]:
    """Hold the project's lock on decisions for a read-modify-write of a reviews file."""
    with short_lock(Path(root) / DECISIONS_LOCK):
        yield


def _takes_of(store: TakeStore, shot_id: str, version: str) -> dict:
    takes = {t.version: t for t in store.takes(shot_id)}
    if version not in takes:
        known = ", ".join(takes) or "none yet"
        raise UsageError(f"shot {shot_id} has no take {version} (takes: {known})")
    return takes


def set_status(root: Path, store: TakeStore, shot_id: str, version: str, status: str, note: str = "",
               by: str = "") -> Review:
    """Decide on a take; ``by``: who decided (default: the user running racines)."""
    if status not in STATUSES:
        raise UsageError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    takes = _takes_of(store, shot_id, version)
    entry = {"status": status, "by": by or current_user(), "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if note:
        entry["note"] = note
    with decisions_locked(root):  # read, change and write as one step, or a decision made meanwhile is lost
        review = load_review(root, shot_id)
        if review.notes_of(version):  # a new decision replaces the last one, never the notes on frames
            entry["notes"] = review.notes_of(version)
        review.takes[version] = entry
        if status == "approved":
            if review.approved and review.approved != version and review.approved in review.takes:
                review.takes[review.approved]["status"] = "review"  # only one approved take per shot
            review.approved, review.approved_key = version, takes[version].cache_key
        elif review.approved == version:
            review.approved = review.approved_key = None
        save_review(root, review)
    return review


def drawing_path(root: Path, shot_id: str, name: str) -> Path:
    """Where a note's drawing lies: beside the shot's reviews file, in a folder of its own."""
    if re.match(DRAWING_PATTERN, name) is None:
        raise UsageError(f"not a drawing's name: {name!r}")
    return Path(root) / REVIEWS_DIR / shot_id / name


def add_note(root: Path, store: TakeStore, shot_id: str, version: str, text: str, frame: int | None = None,
             timecode: str = "", drawing: str | None = None, by: str = "") -> Review:
    """Pin a note (and a drawing already saved by :func:`drawing_path`) to a frame of a take;
    notes are only ever appended, so that two people writing at once both keep theirs."""
    _takes_of(store, shot_id, version)
    note = Note(frame=frame, timecode=timecode, text=text, drawing=drawing, by=by or current_user(),
                at=datetime.now(timezone.utc).isoformat(timespec="seconds")).model_dump(exclude_defaults=True)
    with decisions_locked(root):
        review = load_review(root, shot_id)
        entry = review.takes.setdefault(version, {"status": "wip"})
        entry["notes"] = [*entry.get("notes", []), note]
        save_review(root, review)
    return review
