"""A LoRA training set from the photographs whose owners granted consent.

``datasets/NAME.yaml`` names the photographs (a shot's, with its contributor and consent, or
a photograph of its own, with the same fields as a shot's ``source:``) and their captions.
``racines dataset NAME`` writes ``renders/datasets/NAME/``: the images and same-stem ``.txt``
captions in kohya's ``<repeats>_<concept>`` folder (AI Toolkit reads the folder as it is), the
two trainers' dataset configs, and ``dataset.json``: each image's sha256, the photograph it came
from, contributor, consent, credit and caption. A photograph without granted consent is left
out; a caption naming a person is refused unless that photograph's ``name_in_captions: true``
says its contributor chose it. Image files are named by hash, re-encoded without EXIF (no GPS,
no camera owner).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from PIL import Image
from pydantic import Field, model_validator

from racines.core.atomic import staging_dir
from racines.core.reading import sha256_of
from racines.errors import Problem, UsageError, ValidationFailed
from racines.film.images import NotAnImage, check_image, load_rgb
from racines.film.loader import _Collector, _read_yaml, _validate
from racines.film.model import Film
from racines.film.paths import PathRefused, confine, project_relative
from racines.film.schema import MAX_NAME, MAX_TEXT, SHOT_ID_PATTERN, Strict
from racines.training.lora_manifest import canonical

DATASETS_DIR = Path("datasets")
OUTPUT_DIR = Path("renders") / "datasets"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SCHEMA_VERSION = 1
#: written beside each image by both trainers' convention
CAPTION_EXT = ".txt"


class DatasetImage(Strict):
    """One photograph of the set: a shot's (``shot:``) or one of its own (``photo:`` and the
    fields of a shot's ``source:``)."""

    shot: str | None = Field(None, pattern=SHOT_ID_PATTERN, description="The shot whose photograph this is.")
    photo: str | None = Field(None, min_length=1, description="A photograph relative to this file, inside the project.")
    contributor: str | None = Field(None, min_length=1, max_length=MAX_NAME)
    consent: Literal["granted", "pending", "withdrawn"] | None = None
    credit: str = Field("", max_length=MAX_NAME)
    name_in_captions: bool = Field(False, description="The contributor chose to be named in captions.")
    caption: str | None = Field(None, max_length=MAX_TEXT, description="Default: the dataset's caption.")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetImage:
        if (self.shot is None) == (self.photo is None):
            raise ValueError("give either shot: (a shot's photograph) or photo: with contributor: and consent:")
        if self.photo is not None and (self.contributor is None or self.consent is None):
            raise ValueError("a photo: needs contributor: and consent: (granted | pending | withdrawn)")
        if self.shot is not None and (self.contributor or self.consent or self.credit or self.name_in_captions):
            raise ValueError("a shot's photograph takes its contributor, consent and credit from the shot file's "
                             "source:; write them there")
        return self


class DatasetFile(Strict):
    """``datasets/NAME.yaml``."""

    concept: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9]{0,39}$",
                         description="The trigger word: kohya's folder <repeats>_<concept>, [trigger] in captions.")
    repeats: int = Field(10, ge=1, le=1000, description="How often each image is seen per epoch (kohya).")
    caption: str = Field("[trigger]", max_length=MAX_TEXT, description="The default caption; [trigger] is the concept.")
    max_side: int = Field(1024, ge=64, le=8192, description="Longer side of the images written; never upscaled.")
    images: list[DatasetImage] = Field(min_length=1, max_length=10_000)


@dataclass(frozen=True)
class Item:
    """One photograph of the set, resolved: where it is, whose it is, under what consent."""

    index: int
    path: Path
    source: str          # project-relative
    shot: str | None
    contributor: str
    consent: str
    credit: str
    caption: str


@dataclass(frozen=True)
class Dataset:
    name: str
    file: str            # project-relative
    settings: DatasetFile
    items: tuple[Item, ...]

    @property
    def folder_name(self) -> str:
        return f"{self.settings.repeats}_{self.settings.concept}"


def dataset_files(root: Path) -> list[Path]:
    folder = Path(root) / DATASETS_DIR
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def check_name(name: str) -> None:
    if not re.match(NAME_PATTERN, name):
        raise UsageError(f"dataset name '{name}': use lower-case letters, digits, '-' and '_'\n"
                         "    fix: name the file datasets/NAME.yaml with such a name")


def load_dataset(film: Film, name: str) -> Dataset:
    """``datasets/NAME.yaml`` read strictly; every problem located (file, line, field, value, fix)."""
    check_name(name)
    path = film.root / DATASETS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(p.stem for p in dataset_files(film.root)) or "none yet"
        raise UsageError(f"no dataset named '{name}' ({project_relative(film.root, path)} does not exist; "
                         f"datasets: {known})\n    fix: write {DATASETS_DIR}/{name}.yaml (see docs/training.md)")
    problems: list[Problem] = []
    out = _Collector(film.root, path, problems)
    data = _read_yaml(path, out)
    parsed = _validate(DatasetFile, data, out) if data is not None else None
    if parsed is None:
        raise ValidationFailed(problems)
    items = []
    for index, image in enumerate(parsed.images):
        item = _resolve(film, path, parsed, index, image, out)
        if item is not None:
            items.append(item)
    seen: dict[str, int] = {}
    for item in items:
        if item.source in seen:
            out.add(("images", item.index), f"the same photograph as images.{seen[item.source]}", "keep one of them",
                    value=item.source)
        seen.setdefault(item.source, item.index)
    if problems:
        raise ValidationFailed(problems)
    return Dataset(name, out.file, parsed, tuple(items))


def check_datasets(film: Film) -> None:
    """Read every ``datasets/*.yaml`` and raise :class:`ValidationFailed` with all their problems
    at once (racines validate)."""
    problems: list[Problem] = []
    for path in dataset_files(film.root):
        try:
            load_dataset(film, path.stem)
        except ValidationFailed as exc:
            problems += exc.problems
        except UsageError as exc:
            problems.append(Problem(file=project_relative(film.root, path), field="", message=str(exc).split("\n")[0],
                                    fix="name the file with lower-case letters, digits, '-' and '_'"))
    if problems:
        raise ValidationFailed(problems)


def _resolve(film: Film, path: Path, parsed: DatasetFile, index: int, image: DatasetImage,
             out: _Collector) -> Item | None:
    caption = (image.caption if image.caption is not None else parsed.caption).replace("[trigger]", parsed.concept)
    if image.shot is not None:
        shot = film.shots.get(image.shot)
        if shot is None or shot.source is None:
            out.add(("images", index, "shot"), "no shot file with a source: photograph by this id",
                    f"name a shot of shots/ that has a source: ({', '.join(sorted(film.shots))})", value=image.shot)
            return None
        source = shot.source
        item = Item(index, source.path, source.relpath, shot.id, source.contributor, source.consent, source.credit,
                    caption)
        chose = source.name_in_captions
    else:
        try:
            photo = confine(film.root, path.parent, image.photo)
            check_image(photo)
        except (PathRefused, NotAnImage) as exc:
            out.add(("images", index, "photo"), str(exc), exc.fix, value=image.photo)
            return None
        item = Item(index, photo, project_relative(film.root, photo), None, image.contributor, image.consent,
                    image.credit or image.contributor, caption)
        chose = image.name_in_captions
    named = [n for n in people(film, parsed) if n != item.contributor or not chose]
    if hit := names_in(caption, named):
        out.add(("images", index, "caption"), f"the caption names {', '.join(hit)}: captions travel into the LoRA's "
                "metadata (ss_tag_frequency) and every copy of it", "describe the photograph without the name; only "
                "the contributor's own photograph may carry their name, with name_in_captions: true in its source:",
                value=caption)
    return item


def people(film: Film, parsed: DatasetFile) -> list[str]:
    """The people the project names: contributors of photographs, speakers of voices."""
    names = [s.source.contributor for s in film.shots.values() if s.source is not None]
    names += [i.contributor for i in parsed.images if i.contributor]
    names += [clip.person for clip in film.sound if clip.role == "voice"]
    return list(dict.fromkeys(names))


def names_in(caption: str, names: list[str]) -> list[str]:
    """The names of ``names`` that ``caption`` carries, whole or by a word of three letters or more."""
    text = caption.casefold()
    hits = []
    for name in names:
        words = [name] + [w for w in re.findall(r"[^\W\d_]{3,}", name)]
        if any(re.search(rf"(?<!\w){re.escape(w.casefold())}(?!\w)", text) for w in words):
            hits.append(name)
    return hits



def _training_image(item: Item, max_side: int) -> Image.Image:
    """The photograph upright (EXIF orientation), at most ``max_side``, as new pixels without metadata."""
    image = Image.fromarray(load_rgb(item.path))
    scale = max_side / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    return Image.fromarray(np.asarray(image))


@dataclass(frozen=True)
class Prepared:
    folder: Path
    manifest: dict
    left_out: tuple[Item, ...]  # photographs without granted consent


def prepare(film: Film, name: str) -> Prepared:
    """Write ``renders/datasets/NAME/`` whole, or leave the one before it in place."""
    dataset = load_dataset(film, name)
    granted = [i for i in dataset.items if i.consent == "granted"]
    if not granted:
        raise UsageError(f"{dataset.file}: no photograph of dataset '{name}' has consent granted; nothing to train on\n"
                         "    fix: ask the contributors, or name photographs whose consent is granted")
    final = film.root / OUTPUT_DIR / name
    with staging_dir(final.parent, name) as work:
        images = work / dataset.folder_name
        images.mkdir()
        entries = []
        for item in granted:
            photo_sha = sha256_of(item.path)
            stem = photo_sha[:16]
            _training_image(item, dataset.settings.max_side).save(images / f"{stem}.png", format="PNG")
            (images / f"{stem}{CAPTION_EXT}").write_text(item.caption + "\n", encoding="utf-8")
            entries.append({
                "file": f"{dataset.folder_name}/{stem}.png", "sha256": sha256_of(images / f"{stem}.png"),
                "photo_sha256": photo_sha, "source": item.source, "shot": item.shot,
                "contributor": item.contributor, "consent": item.consent, "credit": item.credit,
                "caption": item.caption, "caption_sha256": hashlib.sha256(item.caption.encode()).hexdigest()})
        manifest = {"schema_version": SCHEMA_VERSION, "name": name, "declared_in": dataset.file,
                    "concept": dataset.settings.concept, "repeats": dataset.settings.repeats,
                    "folder": dataset.folder_name, "images": entries}
        manifest["sha256"] = hashlib.sha256(canonical(manifest).encode()).hexdigest()
        (work / "dataset.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _write_configs(work, final, dataset)
        _swap_in(work, final)
    return Prepared(final, manifest, tuple(i for i in dataset.items if i.consent != "granted"))


def _write_configs(work: Path, final: Path, dataset: Dataset) -> None:
    """The dataset part of each trainer's config, pointing at the folder where it will be."""
    folder = str(final / dataset.folder_name)
    ai_toolkit = {"trigger_word": dataset.settings.concept, "datasets": [{
        "folder_path": folder, "caption_ext": CAPTION_EXT[1:], "num_repeats": dataset.settings.repeats,
        "caption_dropout_rate": 0.05, "resolution": [512, 768, 1024]}]}
    (work / "ai-toolkit.yaml").write_text(yaml.safe_dump(ai_toolkit, sort_keys=False), encoding="utf-8")
    # json.dumps writes a TOML basic string (quotes and backslashes escaped)
    kohya = ("[general]\ncaption_extension = \".txt\"\nshuffle_caption = false\n\n[[datasets]]\nresolution = 1024\n"
             f"batch_size = 1\n\n  [[datasets.subsets]]\n  image_dir = {json.dumps(folder)}\n"
             f"  num_repeats = {dataset.settings.repeats}\n")
    (work / "kohya.toml").write_text(kohya, encoding="utf-8")


def _swap_in(work: Path, final: Path) -> None:
    """Rename the staged folder into place; the one before it is moved aside first, then removed."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(work, final)
    shutil.rmtree(old, ignore_errors=True)


def read_manifest(film: Film, name: str) -> dict:
    """``renders/datasets/NAME/dataset.json``, as ``racines dataset NAME`` wrote it."""
    check_name(name)
    path = film.root / OUTPUT_DIR / name / "dataset.json"
    if not path.is_file():
        raise UsageError(f"{project_relative(film.root, path)} does not exist\n"
                         f"    fix: prepare the dataset first: racines dataset {name}")
    return json.loads(path.read_text(encoding="utf-8"))
