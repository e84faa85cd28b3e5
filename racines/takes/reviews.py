"""The director's decisions on takes: statuses, notes and the approved take of each shot.

They live in ``shots/reviews/<shot>.yaml``, one small file per shot, beside the shot files
and committed with them, so that a class working in parallel merges without conflicts. A
decision names the take's version and its cache key, so that it still means the same
pixels on a machine that rendered the take again. The files are validated on reading (a
merge or a hand edit can break them), and decisions are serialised between processes: two
people approving at once each keep their decision.
"""

from __future__ import annotations

import fcntl
import os
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
from racines.errors import Problem, UsageError, ValidationFailed
from racines.takes.store import TakeStore

REVIEWS_DIR = Path("shots") / "reviews"
STATUSES = ("wip", "review", "approved", "retake")
# under renders/ (never committed) rather than beside the reviews; the file is never removed,
# so that a process waiting on it and one arriving later lock the same file
DECISIONS_LOCK = Path("renders") / ".reviews.lock"
VERSION_PATTERN = r"^v\d{3,}$"


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["wip", "review", "approved", "retake"] = "wip"
    by: str = ""
    at: str = ""
    note: str = ""

    @field_validator("by", "at", "note", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # YAML reads a hand-written date or number as something else than text
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


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
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"{where}: malformed YAML ({exc})\n"
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
    with atomic_path(path) as tmp:
        tmp.write_text(f"# racines review of shot {review.shot_id}: written by racines approve / racines review\n"
                       + yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")


@contextmanager
def decisions_locked(root: Path) -> Iterator[None]:
    """Hold the project's lock on decisions for a read-modify-write of a reviews file; the
    kernel releases it when its holder exits in any way."""
    path = Path(root) / DECISIONS_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # decisions take milliseconds: wait for the other one
        yield
    finally:
        os.close(fd)


def set_status(root: Path, store: TakeStore, shot_id: str, version: str, status: str, note: str = "") -> Review:
    if status not in STATUSES:
        raise UsageError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    takes = {t.version: t for t in store.takes(shot_id)}
    if version not in takes:
        known = ", ".join(takes) or "none yet"
        raise UsageError(f"shot {shot_id} has no take {version} (takes: {known})")
    entry = {"status": status, "by": current_user(), "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if note:
        entry["note"] = note
    with decisions_locked(root):  # read, change and write as one step, or a decision made meanwhile is lost
        review = load_review(root, shot_id)
        review.takes[version] = entry
        if status == "approved":
            if review.approved and review.approved != version and review.approved in review.takes:
                review.takes[review.approved]["status"] = "review"  # only one approved take per shot
            review.approved, review.approved_key = version, takes[version].cache_key
        elif review.approved == version:
            review.approved = review.approved_key = None
        save_review(root, review)
    return review
