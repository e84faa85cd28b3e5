"""Consent that follows a photograph into a LoRA and back out to the shots that use it.

The project's consent ledger is what its files say now: each photograph's consent in the shot
files' ``source:`` and in ``datasets/*.yaml``, by the sha256 of its bytes (the same picture under
two names is one photograph; the strictest consent wins). A LoRA a shot names says what it
learned from through its dataset manifest (stamped into its header or beside it); when one of
those photographs' consent is no longer granted, every shot naming the LoRA is withheld: it is
not rendered, the credits leave it out, ``racines status`` says whose consent and which dataset.
The withdrawal lives in the project's files, never in the LoRA (a file can be copied; the
project is the authority).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from racines.film.model import Film
from racines.film.paths import project_relative
from racines.training.dataset import dataset_files, load_dataset
from racines.training.lora_manifest import LoraDataset, lora_dataset, tensor_sha256

#: the strictest consent wins when one photograph is declared twice
STRICTNESS = {"granted": 0, "pending": 1, "withdrawn": 2}


@dataclass(frozen=True)
class Withdrawal:
    """A LoRA that learned from a photograph whose consent is no longer granted."""

    lora: str            # project-relative path of the LoRA file
    tensor_sha256: str   # its identity in take manifests (the cache-key input "lora PATH")
    dataset: str
    contributor: str
    consent: str
    photograph: str      # project-relative, as the project now names it
    shots: tuple[str, ...] = ()  # the shots that name the LoRA

    def line(self) -> str:
        return (f"LoRA {self.lora} (dataset '{self.dataset}') learned from a photograph of {self.contributor} "
                f"({self.photograph}), whose consent is now '{self.consent}'")


_hashes: dict[tuple, str] = {}


def _sha256(path: Path) -> str:
    """sha256 of a photograph, remembered for this process by (path, size, mtime)."""
    stat = path.stat()
    stamp = (str(path), stat.st_size, stat.st_mtime_ns)
    if stamp not in _hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _hashes[stamp] = digest.hexdigest()
    return _hashes[stamp]


def ledger(film: Film) -> dict[str, tuple[str, str, str]]:
    """photo sha256 -> (contributor, consent, project-relative path), from the shot files and the
    datasets' own photographs; a damaged dataset file raises its located problems."""
    found: dict[str, tuple[str, str, str]] = {}

    def note(path: Path, contributor: str, consent: str) -> None:
        digest = _sha256(path)
        before = found.get(digest)
        if before is None or STRICTNESS[consent] > STRICTNESS[before[1]]:
            found[digest] = (contributor, consent, project_relative(film.root, path))

    for shot in film.shots.values():
        if shot.source is not None:
            note(shot.source.path, shot.source.contributor, shot.source.consent)
    for file in dataset_files(film.root):
        for item in load_dataset(film, file.stem).items:
            if item.shot is None:
                note(item.path, item.contributor, item.consent)
    return found


def lora_datasets(film: Film) -> dict[Path, LoraDataset]:
    """The LoRA files the shots name that carry a dataset manifest."""
    found = {}
    for path in sorted({p for shot in film.shots.values() for p in shot.weights.values()}):
        dataset = lora_dataset(path)
        if dataset is not None:
            found[path] = dataset
    return found


def withdrawals(film: Film) -> dict[Path, list[Withdrawal]]:
    """Per LoRA the shots name, the photographs it learned from whose consent is not granted now."""
    datasets = lora_datasets(film)
    if not datasets:
        return {}
    consents = ledger(film)
    out: dict[Path, list[Withdrawal]] = {}
    for path, dataset in datasets.items():
        identity = None
        for image in dataset.images():
            now = consents.get(str(image.get("photo_sha256", "")))
            if now is None or now[1] == "granted":
                continue
            identity = identity or tensor_sha256(path)
            shots = tuple(s.id for s in film.shots.values() if path in s.weights.values())
            out.setdefault(path, []).append(Withdrawal(project_relative(film.root, path), identity, dataset.name,
                                                       now[0], now[1], now[2], shots))
    return out


def unaccounted(film: Film) -> dict[str, int]:
    """Per LoRA the shots name (project-relative), how many photographs it learned from the project
    no longer holds: their consent cannot be checked."""
    datasets = lora_datasets(film)
    consents = ledger(film) if datasets else {}
    out = {}
    for path, dataset in datasets.items():
        missing = sum(1 for image in dataset.images() if str(image.get("photo_sha256", "")) not in consents)
        if missing:
            out[project_relative(film.root, path)] = missing
    return out


def with_training_consent(film: Film) -> Film:
    """The film with each shot that names a LoRA learned from a withdrawn photograph withheld
    (``Shot.withheld``: the reasons, which make it unconsented)."""
    found = withdrawals(film)
    if not found:
        return film
    shots = dict(film.shots)
    for shot_id, shot in film.shots.items():
        reasons = tuple(w.line() for path in shot.weights.values() for w in found.get(path, ()))
        if reasons:
            shots[shot_id] = dataclasses.replace(shot, withheld=reasons)
    return dataclasses.replace(film, shots=shots)


def learned_from(film: Film, lora_paths: list[Path]) -> list[tuple[str, list[str]]]:
    """(dataset name, credit lines) of the LoRAs at ``lora_paths``: whose photographs they learned from."""
    out = []
    for path in lora_paths:
        dataset = lora_dataset(path)
        if dataset is not None and dataset.contributors():
            out.append((dataset.name or path.stem, dataset.contributors()))
    return out
