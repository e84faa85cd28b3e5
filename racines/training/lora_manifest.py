"""A LoRA's safetensors header, read and rewritten without touching its tensors.

The format: 8 bytes of little-endian length N, an N-byte JSON header (``__metadata__`` is a
string-to-string map), then the tensors' bytes. racines stamps the dataset manifest into
``__metadata__`` and identifies a LoRA by the sha256 of the bytes after the header (kohya's
``sshs_model_hash`` recipe), so a stamp or any other metadata edit changes no take's key.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from racines.core.atomic import atomic_path
from racines.errors import UsageError

#: the bound of the safetensors reader itself: a header declaring more is refused unread
MAX_HEADER = 100_000_000
#: the keys racines writes
MANIFEST_KEY, DIGEST_KEY, NAME_KEY = "racines.dataset_manifest", "racines.dataset_sha256", "racines.dataset"
POLICY = "a withdrawn consent flags this LoRA and every take made with it; re-train without the photograph"
#: what trainers already write that carries the training set's words or folders into every copy
LEAKY_KEYS = ("ss_tag_frequency", "ss_dataset_dirs", "ss_datasets", "ss_training_comment", "modelspec.description")


class LoraUnreadable(UsageError):
    """A LoRA file whose header cannot be read: the message names the file and the fix."""


def canonical(data: object) -> str:
    """The one JSON text a manifest is hashed as."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def read_header(path: Path) -> tuple[int, dict]:
    """(header length, header) of a safetensors file, reading the header alone."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(8)
            if len(raw) < 8:
                raise LoraUnreadable(f"{path}: not a safetensors file (shorter than its 8-byte header length)\n"
                                     "    fix: point to the .safetensors file the trainer saved")
            (length,) = struct.unpack("<Q", raw)
            if length > MAX_HEADER:
                raise LoraUnreadable(f"{path}: the header declares {length} bytes, more than safetensors allows\n"
                                     "    fix: the file is damaged or not a LoRA; save it again from the trainer")
            text = handle.read(length)
    except OSError as exc:
        raise LoraUnreadable(f"{path}: cannot be read ({exc.strerror or exc})\n    fix: check the path") from None
    try:
        header = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LoraUnreadable(f"{path}: the safetensors header is not JSON ({exc})\n"
                             "    fix: the file is damaged; save it again from the trainer") from None
    if not isinstance(header, dict) or len(text) < length:
        raise LoraUnreadable(f"{path}: the safetensors header is cut short or not a JSON object\n"
                             "    fix: the file is damaged; copy it again")
    return length, header


def metadata(path: Path) -> dict[str, str]:
    meta = read_header(path)[1].get("__metadata__") or {}
    return {str(k): v for k, v in meta.items() if isinstance(v, str)} if isinstance(meta, dict) else {}


def tensor_sha256(path: Path) -> str:
    """sha256 of the tensors' bytes (everything after the header): the LoRA's identity."""
    length, _ = read_header(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(8 + length)
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stamp(path: Path, manifest: dict, name: str) -> str:
    """Write ``manifest`` (a dataset.json) into the LoRA's ``__metadata__``, the tensors copied byte
    for byte after the new header, the file replaced atomically. Returns the tensors' sha256."""
    length, header = read_header(path)
    before = tensor_sha256(path)
    meta = dict(header.get("__metadata__") or {})
    text = canonical(manifest)
    meta.update({MANIFEST_KEY: text, DIGEST_KEY: hashlib.sha256(text.encode()).hexdigest(), NAME_KEY: name,
                 "racines.consent_policy": POLICY})
    header["__metadata__"] = {str(k): str(v) for k, v in meta.items()}
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    raw += b" " * (-len(raw) % 8)  # the tensors stay 8-byte aligned, as safetensors writes them
    with atomic_path(path) as tmp:
        with open(path, "rb") as source, open(tmp, "wb") as out:
            out.write(struct.pack("<Q", len(raw)) + raw)
            source.seek(8 + length)
            shutil.copyfileobj(source, out, 1 << 20)
        if tensor_sha256(tmp) != before:
            raise LoraUnreadable(f"{path}: the tensors changed while stamping; the file was left as it was\n"
                                 "    fix: make sure nothing else writes the file, then stamp again")
    return before


def beside(path: Path) -> Path:
    """Where a LoRA's manifest is kept when it is not stamped in: lora.safetensors -> lora.dataset.json."""
    return path.with_name(path.name.removesuffix(".safetensors") + ".dataset.json")


@dataclass(frozen=True)
class LoraDataset:
    """What a LoRA says it learned from: its dataset manifest, and where the manifest was found."""

    name: str
    manifest: dict
    found_in: str  # "header" or the path of the manifest beside it

    def images(self) -> list[dict]:
        images = self.manifest.get("images")
        return [i for i in images if isinstance(i, dict)] if isinstance(images, list) else []

    def contributors(self) -> list[str]:
        """The credit lines of those whose photographs it learned from, in order, once each."""
        seen: list[str] = []
        for image in self.images():
            line = str(image.get("credit") or image.get("contributor") or "")
            if line and line not in seen:
                seen.append(line)
        return seen


def lora_dataset(path: Path) -> LoraDataset | None:
    """The dataset manifest stamped into the LoRA's header, else the one beside it; None when the
    LoRA carries none (its training set is unknown to the project)."""
    meta = metadata(path)
    if MANIFEST_KEY in meta:
        text = meta[MANIFEST_KEY]
        if DIGEST_KEY in meta and hashlib.sha256(text.encode()).hexdigest() != meta[DIGEST_KEY]:
            raise LoraUnreadable(f"{path}: {MANIFEST_KEY} does not match {DIGEST_KEY}: the manifest was edited\n"
                                 "    fix: stamp the LoRA again with racines dataset stamp NAME LORA")
        try:
            manifest = json.loads(text)
        except ValueError:
            raise LoraUnreadable(f"{path}: {MANIFEST_KEY} is not JSON\n"
                                 "    fix: stamp the LoRA again with racines dataset stamp NAME LORA") from None
        return LoraDataset(str(meta.get(NAME_KEY) or manifest.get("name", "")), manifest, "header")
    side = beside(path)
    if side.is_file():
        try:
            manifest = json.loads(side.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise LoraUnreadable(f"{side}: not a dataset manifest ({exc})\n"
                                 "    fix: copy renders/datasets/NAME/dataset.json beside the LoRA again") from None
        if not isinstance(manifest, dict):
            raise LoraUnreadable(f"{side}: not a dataset manifest (a JSON object)\n"
                                 "    fix: copy renders/datasets/NAME/dataset.json beside the LoRA again")
        return LoraDataset(str(manifest.get("name", "")), manifest, str(side))
    return None


def leaks(meta: dict[str, str], names: list[str]) -> list[str]:
    """The trainer's metadata keys that carry one of ``names`` (a person's name in a caption word
    count, a folder name...) into every copy of the LoRA."""
    found = []
    for key in LEAKY_KEYS:
        text = meta.get(key, "").casefold()
        hits = sorted({n for n in names if n and n.casefold() in text})
        if hits:
            found.append(f"{key} carries {', '.join(hits)}")
    return found
