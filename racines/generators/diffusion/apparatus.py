"""The apparatus card of a diffusion take: the chain of models the photograph went through, in order,
and what each one is (parameters, licence, revision, model card), and what the text encoders read.

* Parameter counts come from the safetensors headers of the model's folder (the product of each
  tensor's shape, no tensor read); a component without safetensors files is counted in memory, and
  the card says which.
* The token report tokenises the prompt the pipeline was given with each of its tokenizers, without
  truncation, against the window the pipeline encodes (a CLIP tokenizer's ``model_max_length``, the
  call's ``max_sequence_length`` or the pipeline's default): the text each encoder received and the
  exact tokens it cut off. Some pipelines warn about truncation only in their logger; Wan's is silent.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import struct
from pathlib import Path
from typing import Any

import yaml

from racines.models.listing import card_licence
from racines.models.resolve import ResolvedModel

MAX_HEADER = 100_000_000  # as the safetensors library refuses larger headers
#: the order of the chain, by the pipeline's component names
ROLES = (("text_encoder", "text encoder"), ("image_encoder", "image encoder"), ("transformer", "denoiser"),
         ("unet", "denoiser"), ("vae", "VAE"), ("safety_checker", "safety checker"))


def header_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape, from a safetensors file's header alone."""
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        size = struct.unpack("<Q", raw)[0]
        if size > MAX_HEADER:
            raise ValueError(f"{path}: safetensors header of {size} bytes is too large")
        header = json.loads(handle.read(size))
    return {name: entry["shape"] for name, entry in header.items() if name != "__metadata__"}


def parameters_in(folder: Path, names: set[str] | None = None) -> int | None:
    """Parameters of the safetensors files in a component folder; variants (fp16...) of the same
    tensors count once. ``names``: the module's parameter names, so that saved buffers (a VAE's
    latent mean and std...) are left out. None when the folder holds none."""
    shapes: dict[str, list[int]] = {}
    for path in sorted(folder.glob("*.safetensors")):
        shapes.update(header_shapes(path))
    if names is not None:
        shapes = {name: shape for name, shape in shapes.items() if name in names}
    return sum(math.prod(shape) for shape in shapes.values()) if shapes else None


def card_of(folder: Path) -> dict[str, Any]:
    """What a model card's YAML front matter says of the model: licence, training data, base model."""
    meta: dict = {}
    try:
        text = (folder / "README.md").read_text(encoding="utf-8", errors="replace")[:20000]
        match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.S)
        meta = (yaml.safe_load(match.group(1)) if match else None) or {}
    except (OSError, yaml.YAMLError):
        pass
    meta = meta if isinstance(meta, dict) else {}
    datasets = meta.get("datasets")
    return {"licence": card_licence(folder) or "not stated (no licence in the model card)",
            "training_data": ", ".join(map(str, datasets)) if isinstance(datasets, list) and datasets else
            str(datasets) if datasets else "not disclosed in the model card",
            **({"base_model": meta["base_model"]} if meta.get("base_model") else {})}


def model_record(model: ResolvedModel) -> dict[str, Any]:
    repo = model.entry.repo
    return {"name": model.name, "source": model.source, "revision": model.revision,
            "model_card": f"https://huggingface.co/{repo}" if repo else None, **card_of(model.folder)}


def _json(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def chain(pipe, model: ResolvedModel) -> list[dict[str, Any]]:
    """The pipeline's models in the order a generation passes through them."""
    import torch

    found = []
    components = pipe.components
    for prefix, role in ROLES:
        for name in sorted(n for n in components if n.startswith(prefix)):
            module = components[name]
            if not isinstance(module, torch.nn.Module):
                continue
            counted = parameters_in(model.folder / name, {n for n, _ in module.named_parameters()})
            entry = {"role": role, "component": name, "class": type(module).__name__,
                     "parameters": counted, "counted_from": "safetensors headers"}
            if counted is None:
                entry.update(parameters=sum(p.numel() for p in module.parameters()), counted_from="memory")
            entry["dtype"] = str(next(module.parameters()).dtype).replace("torch.", "")
            found.append(entry)
    return found


def scheduler_record(pipe) -> dict[str, Any]:
    scheduler = pipe.scheduler
    return {"role": "scheduler", "class": type(scheduler).__name__, "config": _json(dict(scheduler.config))}


def default_window(pipe) -> int | None:
    parameter = inspect.signature(pipe.__call__).parameters.get("max_sequence_length")
    return parameter.default if parameter is not None and isinstance(parameter.default, int) else None


def _core(ids: list[int], special: set[int]) -> list[int]:
    """The prompt's own tokens: the special ones a tokenizer adds at the end (EOS) left out."""
    ids = list(ids)
    while ids and ids[-1] in special:
        ids.pop()
    return ids


def _templated(pipe, tok, prompt: str) -> list[int] | None:
    """The token ids of a pipeline that wraps the prompt in a chat template with its system message
    (FLUX.2), as it encodes them; None for the others."""
    message = system_message(pipe)
    if message is None or not hasattr(tok, "apply_chat_template"):
        return None
    conversation = [{"role": "system", "content": [{"type": "text", "text": message}]},
                    {"role": "user", "content": [{"type": "text", "text": prompt.replace("[IMG]", "")}]}]
    ids = tok.apply_chat_template(conversation, add_generation_prompt=False, tokenize=True, truncation=False)
    ids = ids["input_ids"] if not isinstance(ids, list) else ids
    return list(ids)


def token_report(pipe, prompt: str, max_sequence_length: int | None = None) -> list[dict[str, Any]]:
    """Per tokenizer: the encoder it feeds, the window, the text the encoder received and the exact
    tokens cut off (``lost_tokens``, ``lost_text``)."""
    found = []
    for name in ("tokenizer", "tokenizer_2", "tokenizer_3"):
        tok = getattr(pipe, name, None)
        if tok is None or not callable(tok) or not hasattr(tok, "convert_ids_to_tokens"):
            continue
        encoder = getattr(pipe, name.replace("tokenizer", "text_encoder"), None)
        clip = encoder is not None and type(encoder).__name__.startswith("CLIP")
        window = tok.model_max_length if clip else (max_sequence_length or default_window(pipe) or
                                                     tok.model_max_length)
        templated = _templated(pipe, tok, prompt) if name == "tokenizer" else None
        if templated is not None:  # the system message and the prompt share the window; the front is kept
            full = kept_all = templated
            kept, lost = full[:window], full[window:]
        else:
            full = tok(prompt, add_special_tokens=True, truncation=False)["input_ids"]
            kept = kept_all = tok(prompt, add_special_tokens=True, truncation=True, max_length=window)["input_ids"]
            special = set(tok.all_special_ids)
            lost = _core(full, special)[len(_core(kept_all, special)):]
        found.append({"tokenizer": name, "encoder": type(encoder).__name__ if encoder is not None else None,
                      "window": window, "tokens": len(full), "received": tok.decode(kept, skip_special_tokens=True),
                      "truncated": len(lost), "lost_tokens": tok.convert_ids_to_tokens(lost),
                      "lost_text": tok.decode(lost, skip_special_tokens=True)})
    return found


def system_message(pipe) -> str | None:
    """A prompt the pipeline wraps around the user's own (FLUX.2's chat template), when it has one."""
    message = getattr(pipe, "system_message", None)
    return message if isinstance(message, str) and message else None


def card(pipe, model: ResolvedModel, *, written: str, enhanced: str | None, enhancer: ResolvedModel | None,
         received: str, max_sequence_length: int | None, loras: list[dict[str, Any]], seed: int | None,
         steps: int | None) -> dict[str, Any]:
    """One pipeline run's card: models in order, prompts, token report, seed and scheduler."""
    models = []
    if enhancer is not None:
        models.append({"role": "prompt enhancer", **model_record(enhancer),
                       "parameters": parameters_in(enhancer.folder), "counted_from": "safetensors headers"})
    models += chain(pipe, model)
    models += [{"role": "adapter (LoRA)", **lora} for lora in loras]
    models.append(scheduler_record(pipe))
    found = {"pipeline": type(pipe).__name__, "model": model_record(model), "chain": models,
             "parameters": sum(m.get("parameters") or 0 for m in models),
             "prompt": {"written": written, "enhanced": enhanced,
                        "encoders": token_report(pipe, received, max_sequence_length) if received else []},
             "seed": seed, "steps": steps}
    if message := system_message(pipe):
        found["prompt"]["system_message"] = message
    return found


def lora_record(path: Path, scale: float, shown: str) -> dict[str, Any]:
    return {"component": shown, "scale": scale, "parameters": sum(math.prod(s) for s in header_shapes(path).values()),
            "counted_from": "safetensors headers"}
