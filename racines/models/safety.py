"""Refuse model folders that could run code when loaded.

Pickle files (``.bin``, ``.pt``, ``.ckpt``...) execute code when unpickled, and a pipeline or
model that names its own Python module needs ``trust_remote_code``, which racines never
passes. A folder is accepted only if every model it holds has safetensors weights and every
class it names comes from diffusers or transformers.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
LIBRARIES = ("diffusers", "transformers")


def diffusers_module(library: str) -> bool:
    """A component's library that names one of diffusers' own pipeline modules: Stable Diffusion
    1.x/2.x list ``safety_checker: ["stable_diffusion", ...]``, which diffusers imports from
    ``diffusers.pipelines.stable_diffusion``, code that ships with diffusers, not with the model."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", library):
        return False
    try:
        return importlib.util.find_spec(f"diffusers.pipelines.{library}") is not None
    except (ImportError, ValueError):
        return False


class ModelRefused(Exception):
    """The folder holds a model racines will not load; ``fix`` says what to do instead."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelRefused(f"{path.name} cannot be read ({exc})", "download the model again") from exc
    if not isinstance(data, dict):
        raise ModelRefused(f"{path.name} is not a JSON object", "download the model again")
    return data


def _weights(folder: Path, what: str) -> None:
    """A model folder (one holding config.json) must hold safetensors weights. (A named variant is not
    required of every component: diffusers falls back to the plain weights for those without one.)"""
    files = [p for p in folder.iterdir() if p.is_file() or p.is_symlink()]
    safetensors = [p for p in files if p.name.endswith(".safetensors")]
    pickles = sorted(p.name for p in files if p.suffix in PICKLE_SUFFIXES)
    if not safetensors and pickles:
        raise ModelRefused(
            f"{what} has only pickle weights ({', '.join(pickles[:3])}), which can run code when loaded",
            "download the .safetensors files of this model, or convert the weights to safetensors")
    if not safetensors:
        raise ModelRefused(f"{what} has no weights (an incomplete download?)",
                           "download the model again, with its .safetensors files")
    config = _read_json(folder / "config.json")
    if "auto_map" in config:
        raise ModelRefused(f"{what} needs its own Python code (auto_map in config.json)",
                           "use a model that the released diffusers/transformers support; racines never "
                           "passes trust_remote_code")


def check_pipeline_folder(folder: Path) -> str:
    """Check a diffusers pipeline folder; return its pipeline class name (``_class_name``)."""
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise ModelRefused(f"{folder} is not a diffusers pipeline folder (no model_index.json)",
                           "give the folder that holds model_index.json, as saved by save_pretrained")
    index = _read_json(index_path)
    class_name = index.get("_class_name")
    if not isinstance(class_name, str):
        raise ModelRefused(f"the pipeline class {class_name!r} is custom code",
                           "use a pipeline that diffusers ships; racines never passes trust_remote_code")
    for component, spec in index.items():
        if component.startswith("_") or not isinstance(spec, list) or spec[:1] == [None]:
            continue
        library = spec[0]
        if library not in LIBRARIES and not diffusers_module(library):
            raise ModelRefused(f"component {component} comes from {library!r}, which is custom code",
                               "use a pipeline made only of diffusers and transformers classes")
        sub = folder / component
        if (sub / "config.json").is_file():
            _weights(sub, f"component {component}")
    return class_name


def check_transformers_folder(folder: Path) -> str:
    """Check a transformers model folder (a language, speech or translation model); return its model_type."""
    if not (folder / "config.json").is_file():
        raise ModelRefused(f"{folder} is not a transformers model folder (no config.json)",
                           "give the folder that holds config.json and the tokenizer files")
    _weights(folder, "the model")
    # a tokenizer or processor can name its own class too (auto_map), which only trust_remote_code loads
    for name in ("tokenizer_config.json", "preprocessor_config.json", "processor_config.json"):
        if (folder / name).is_file() and "auto_map" in _read_json(folder / name):
            raise ModelRefused(f"the model needs its own Python code (auto_map in {name})",
                               "use a model that the released transformers supports; racines never passes "
                               "trust_remote_code")
    return str(_read_json(folder / "config.json").get("model_type", ""))
