"""The director's decisions on takes: statuses, notes and the approved take of each shot.

They live in ``shots/reviews/<shot>.yaml``, one small file per shot, beside the shot files
and committed with them, so that a class working in parallel merges without conflicts. A
decision names the take's version and its cache key, so that it still means the same
pixels on a machine that rendered the take again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from racines.errors import UsageError
from racines.core.atomic import atomic_path
from racines.core.identity import current_user
from racines.takes.store import Take, TakeStore

REVIEWS_DIR = Path("shots") / "reviews"
STATUSES = ("wip", "review", "approved", "retake")


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


def load_review(root: Path, shot_id: str) -> Review:
    path = review_path(root, shot_id)
    if not path.is_file():
        return Review(shot_id)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path.relative_to(root)}: malformed YAML ({exc})\n"
                         "    fix: correct the file, or restore it from git") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path.relative_to(root)}: expected a mapping\n    fix: restore the file from git")
    return Review(shot_id, data.get("approved"), data.get("approved_key"), dict(data.get("takes") or {}))


def save_review(root: Path, review: Review) -> None:
    document = {"approved": review.approved, "approved_key": review.approved_key,
                "takes": {v: review.takes[v] for v in sorted(review.takes)}}
    path = review_path(root, review.shot_id)
    with atomic_path(path) as tmp:
        tmp.write_text(f"# racines review of shot {review.shot_id}: written by racines approve / racines review\n"
                       + yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")


def set_status(root: Path, store: TakeStore, shot_id: str, version: str, status: str, note: str = "") -> Review:
    if status not in STATUSES:
        raise UsageError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    takes = {t.version: t for t in store.takes(shot_id)}
    if version not in takes:
        known = ", ".join(takes) or "none yet"
        raise UsageError(f"shot {shot_id} has no take {version} (takes: {known})")
    review = load_review(root, shot_id)
    entry = {"status": status, "by": current_user(), "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if note:
        entry["note"] = note
    review.takes[version] = entry
    if status == "approved":
        if review.approved and review.approved != version and review.approved in review.takes:
            review.takes[review.approved]["status"] = "review"  # only one approved take per shot
        review.approved, review.approved_key = version, takes[version].cache_key
    elif review.approved == version:
        review.approved = review.approved_key = None
    save_review(root, review)
    return review


def selected_take(store: TakeStore, review: Review, current_key: str | None = None) -> Take | None:
    """The take the timeline uses: the approved one when it exists here; else the one made from the
    shot as it now stands (``current_key``: after a final render and a draft one, each profile's
    run cuts with its own take); else the newest."""
    for key in (review.approved_key, current_key):
        found = store.find_cached(review.shot_id, key) if key else None
        if found is not None:
            return found
    return store.latest(review.shot_id)

