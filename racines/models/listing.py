"""What ``racines models`` prints: every known model, whether it is here, its size and licence,
and how to get it when it is missing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from racines.film.model import Film
from racines.film.schema import models_of
from racines.models.resolve import PINNED, ModelMissing, ModelRefused, how_to_get, registry, resolve


@dataclass(frozen=True)
class ModelRow:
    name: str
    source: str        # repo@revision or folder
    state: str         # present | missing | refused
    size: int | None   # bytes on disk
    licence: str
    used_by: tuple[str, ...]
    note: str          # how to get it, why it is refused, or that the revision is not pinned


def card_licence(folder: Path) -> str:
    """The licence in a model card's YAML front matter (README.md), if any."""
    card = folder / "README.md"
    try:
        text = card.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return ""
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.S)
    try:
        meta = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError:
        return ""
    if not isinstance(meta, dict) or not meta.get("license"):
        return ""
    name = meta.get("license_name")
    return f"{meta['license']}: {name}" if name and meta["license"] == "other" else str(meta["license"])


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())  # follows the HF cache's links


def models_used(film: Film) -> dict[str, list[str]]:
    """Model names used by the final: blocks of the shots, by shot id."""
    used: dict[str, list[str]] = {}
    for shot in film.shots.values():
        if shot.final is not None:
            for name in models_of(shot.final):
                used.setdefault(name, []).append(shot.id)
    return used


def model_rows(film: Film) -> list[ModelRow]:
    used = models_used(film)
    rows = []
    for name, entry in sorted(registry(film).items()):
        revision = entry.revision or "main"
        source = f"{entry.repo}@{revision}" if entry.repo else str(entry.path)
        size, licence, note = None, entry.licence, ""
        try:
            model = resolve(name, entry, film.root)
        except ModelMissing as exc:
            state, note = "missing", exc.fix
        except ModelRefused as exc:
            state, note = "refused", f"{exc}; {exc.fix}"
        else:
            state, size = "present", folder_size(model.folder)
            licence = card_licence(model.folder) or licence
            source = model.source
            if entry.repo and len(revision) != PINNED:
                note = f"not pinned: write revision: {model.revision} in models.yaml to freeze this commit"
        rows.append(ModelRow(name, source, state, size, licence or "unknown: read the model card",
                             tuple(used.get(name, ())), note))
    return rows


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


__all__ = ["ModelRow", "card_licence", "folder_size", "how_to_get", "human_size", "model_rows", "models_used"]
