"""Resolve model names to local folders, offline.

A name comes from the project's ``models.yaml`` or the built-in list. It points to a folder in
the project or to a Hugging Face repo id at a revision, looked up in the local HF cache only
(``local_files_only``: nothing is ever downloaded). The folder is then checked by
:mod:`racines.models.safety` before anything loads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from racines.errors import quoted
from racines.film.model import Film
from racines.film.paths import PathRefused, confine_folder, hf_cache_dir
from racines.film.schema import ModelEntry
from racines.models.catalogue import BUILTIN
from racines.models.safety import ModelRefused, check_pipeline_folder, check_transformers_folder

PINNED = 40  # a full commit hash


class ModelMissing(Exception):
    """The model is not on this machine; ``fix`` says how to get it."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


class UnknownModel(KeyError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(f"no model named {name!r}; known: {', '.join(known)}")
        self.known = known

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    entry: ModelEntry
    folder: Path
    revision: str   # the commit of a repo, or 'local' for a folder
    kind: str       # the pipeline class (model_index.json), or 'transformers:<model_type>'

    @property
    def source(self) -> str:
        """Where the weights come from, exactly: 'org/repo@commit' or the folder."""
        return f"{self.entry.repo}@{self.revision}" if self.entry.repo else str(self.entry.path)


def registry(film: Film) -> dict[str, ModelEntry]:
    return {**BUILTIN, **film.models}


def entry_of(film: Film, name: str) -> ModelEntry:
    models = registry(film)
    if name not in models:
        raise UnknownModel(name, sorted(models))
    return models[name]


def download_patterns(entry: ModelEntry) -> tuple[list[str], list[str]]:
    """What ``hf download`` needs of a repo: (include, exclude). A diffusers repo: the index and each
    component's folder; the root's single-file checkpoints (SD 1.5, FLUX.1-dev...) are never loaded
    by diffusers from a folder. Weights: the entry's variant only, or the plain ones."""
    if entry.library == "transformers":
        # *.spm: the SentencePiece models of Marian (opus-mt) translation pairs
        return ["*.json", "*.txt", "*.model", "*.spm", "*.safetensors", "README.md"], ["*/*"]
    # *.jinja: a tokenizer's chat template (FLUX.2 formats its prompt as a conversation with it)
    include = ["model_index.json", "README.md", "*/*.json", "*/*.txt", "*/*.model", "*/*.jinja"]
    if entry.variant:
        include += [f"*/*.{entry.variant}.safetensors", f"*/*.safetensors.index.{entry.variant}.json"]
        return include, []
    return include + ["*/*.safetensors"], ["*.fp16.*", "*.bf16.*", "*.fp32.*", "*.non_ema.*"]


def how_to_get(name: str, entry: ModelEntry) -> str:
    if entry.repo:
        revision = entry.revision or "main"
        cache = f"models--{entry.repo.replace('/', '--')}"
        include, exclude = download_patterns(entry)
        patterns = " ".join(f"'{p}'" for p in include) + ("" if not exclude else
                                                           " --exclude " + " ".join(f"'{p}'" for p in exclude))
        return (f"on a machine with internet run: hf download {entry.repo} --revision {revision} "
                f"--include {patterns}; then copy {cache} from its Hugging Face cache into "
                f"{hf_cache_dir()} here (or set HF_HUB_CACHE to a folder that holds it)")
    return (f"put the pipeline folder (the one with model_index.json, as written by save_pretrained) at "
            f"{entry.path}, or change the path of '{name}' in models.yaml")


def locate(name: str, entry: ModelEntry, root: Path) -> tuple[Path, str]:
    """The model's folder and revision, without any network access; raise :class:`ModelMissing`."""
    if entry.path is not None:
        try:
            folder = confine_folder(root, entry.path)
        except PathRefused as exc:
            # validation reports it under models.yaml; every later reader refuses it the same way
            raise ModelRefused(f"models.yaml: models.{name}.path: {exc} (got {quoted(entry.path)})", exc.fix) from None
        if not folder.is_dir():
            raise ModelMissing(f"the model '{name}' is not on this machine: no folder {entry.path}",
                               how_to_get(name, entry))
        return folder, "local"
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    revision = entry.revision or "main"
    try:
        folder = Path(snapshot_download(entry.repo, revision=revision, local_files_only=True,
                                        cache_dir=hf_cache_dir()))
    except LocalEntryNotFoundError:
        raise ModelMissing(f"the model '{name}' ({entry.repo} at {revision}) is not in the Hugging Face cache "
                           f"{hf_cache_dir()}", how_to_get(name, entry)) from None
    return folder, folder.name  # the snapshot folder is named by its commit


def resolve(name: str, entry: ModelEntry, root: Path) -> ResolvedModel:
    """Find and check a model; raise :class:`ModelMissing` or :class:`ModelRefused`."""
    folder, revision = locate(name, entry, root)
    if entry.library == "transformers":
        kind = f"transformers:{check_transformers_folder(folder)}"
    else:
        kind = check_pipeline_folder(folder)
    return ResolvedModel(name=name, entry=entry, folder=folder, revision=revision, kind=kind)


def fingerprint(model: ResolvedModel, sha256) -> str:
    """What identifies the weights in a cache key: the commit of a repo, or the content of a folder.

    ``sha256(path)`` hashes a file (racines' HashCache remembers it across runs)."""
    variant = f" variant {model.entry.variant}" if model.entry.variant else ""
    if model.entry.repo:
        return f"{model.source}{variant}"
    digest = hashlib.sha256()
    for path in sorted(p for p in model.folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(model.folder).as_posix()}\0{sha256(path)}\n".encode())
    return f"{model.source} sha256:{digest.hexdigest()}{variant}"


__all__ = ["ModelMissing", "ModelRefused", "ResolvedModel", "UnknownModel", "download_patterns", "entry_of",
           "fingerprint", "how_to_get", "locate", "registry", "resolve"]
