"""Pipelines kept loaded between shots: a least-recently-used cache of base pipelines.

A base pipeline is one model loaded at one precision on one device with one memory mode,
without LoRA adapters (they are switched on top of it, see :func:`runtime.load`). Loading a
14B video model takes minutes, so a process that renders many shots keeps what fits:

* on a GPU, a pipeline stays while the next one's weights (read from the safetensors headers,
  at the precision it loads in) still fit in the free memory with a reserve for activations;
  least recently used first out. Offloaded pipelines live in host memory and are counted there;
* on the CPU, a fixed number of pipelines (``RACINES_RESIDENT_PIPELINES``, default 2: a video
  model and the keyframe model of its targets).

``RACINES_RESIDENT_PIPELINES`` caps the count everywhere (1 gives the old behaviour: one
pipeline at a time).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from racines.generators.diffusion import memory

COUNT_VARIABLE = "RACINES_RESIDENT_PIPELINES"
CPU_COUNT = 2        # a video model and the keyframe model its targets are made with
GPU_COUNT = 8        # memory decides first on a GPU; this only bounds the bookkeeping
RESERVE_SHARE = 0.2  # of the device's memory, left free for activations and the VAE decode
RESERVE_MIN = 2 << 30


@dataclass
class Resident:
    """A base pipeline in memory, and the adapter state it is in now."""

    pipe: object
    notes: list[str]                       # what loading and placing it said (offload, tiling...)
    seconds: float                         # how long it took to load
    weight_bytes: int = 0
    where: str = "host"                    # "gpu" or "host": the memory it occupies
    adapters: dict[tuple, str] = field(default_factory=dict)  # adapter file identity -> adapter name
    active: tuple[tuple[str, float], ...] = ()                # (adapter name, scale) in effect now
    fused: tuple[str, ...] = ()            # components the active adapters are fused into
    unfused: int = 0                       # times the adapters were unfused to change them
    base_weights: dict[tuple[str, str], tuple] = field(default_factory=dict)  # (component, layer) -> (weight, bias) on the host
    uses: int = 0


def capacity(on: str) -> int:
    """How many pipelines may stay resident at once on device ``on``."""
    chosen = os.environ.get(COUNT_VARIABLE, "").strip()
    if chosen:
        try:
            count = int(chosen)
        except ValueError:
            count = 0
        if count < 1:
            raise ValueError(f"{COUNT_VARIABLE}={chosen!r} is not a whole number of pipelines of at least 1\n"
                             f"    fix: set {COUNT_VARIABLE}=2 (or unset it)")
        return count
    return GPU_COUNT if on.startswith("cuda") else CPU_COUNT


def free_and_total(where: str) -> tuple[int, int] | None:
    """(free, total) bytes of the GPU (``where == "gpu"``) or of the host; None when unknown."""
    if where == "gpu":
        return memory.cuda_free()
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        return int(fields["MemAvailable"].split()[0]) * 1024, int(fields["MemTotal"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def where_for(on: str, offload: str) -> str:
    """The memory a pipeline occupies: the GPU's, unless it is offloaded (or on the CPU)."""
    return "gpu" if on.startswith("cuda") and offload == "none" else "host"


def weight_bytes(folder: Path, dtype: torch.dtype, float32_parts: tuple[str, ...] = (),
                 variant: str | None = None) -> int:
    """The bytes a pipeline's weights take once loaded at ``dtype`` (its ``float32_parts`` in
    float32), counted from the safetensors headers (no tensor is read); 0 when unreadable, and
    then the count alone decides."""
    element = torch.tensor([], dtype=dtype).element_size()
    try:
        return sum(memory.component_bytes(Path(folder), element, float32_parts, variant).values())
    except (OSError, memory.HeaderUnreadable):
        return 0


def free_memory() -> None:
    """Give the memory of dropped pipelines back (a full collection: pipelines hold cycles)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class PipelineCache:
    """Base pipelines by key, least recently used first; see the module's docstring. Keys are
    compared by equality (a loading's model entry is a pydantic model, not hashable)."""

    def __init__(self, measure: Callable[[str], tuple[int, int] | None] = free_and_total):
        self._entries: list[tuple[object, Resident]] = []   # least recently used first
        self._measure = measure

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self._entries)

    def keys(self) -> list[object]:
        return [k for k, _ in self._entries]

    def entries(self) -> list[Resident]:
        return [e for _, e in self._entries]

    def get(self, key: object) -> Resident | None:
        for index, (k, entry) in enumerate(self._entries):
            if k == key:
                self._entries.append(self._entries.pop(index))
                return entry
        return None

    def put(self, key: object, entry: Resident) -> None:
        self._entries = [(k, e) for k, e in self._entries if k != key] + [(key, entry)]

    def evict(self, key: object) -> bool:
        kept = [(k, e) for k, e in self._entries if k != key]
        if len(kept) == len(self._entries):
            return False
        self._entries = kept
        free_memory()
        return True

    def clear(self) -> None:
        self._entries.clear()
        free_memory()

    def fits(self, need: int, where: str) -> bool:
        measured = self._measure(where)
        if measured is None:
            return True
        free, total = measured
        return need + max(RESERVE_MIN, int(total * RESERVE_SHARE)) <= free

    def make_room(self, need: int, where: str, count: int) -> list[object]:
        """Evict the least recently used pipelines until one more of ``need`` bytes fits in
        ``where`` and the cache holds fewer than ``count``; return the keys evicted. When even an
        empty cache leaves too little room, the pipeline is loaded all the same: offload and the
        retry after running out of memory are the next resorts."""
        evicted = []
        while self._entries and (len(self._entries) >= count or not self.fits(need, where)):
            evicted.append(self._entries.pop(0)[0])  # no reference to the pipeline left: the collection frees it
            free_memory()  # measured again only once the memory is back
        return evicted
