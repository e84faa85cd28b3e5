"""What a take cost: GPU-seconds and energy, with the method named, so that a measured figure is
never confused with an estimate.

* A take made on an NVIDIA GPU: NVML's cumulative energy counter of the board
  (``nvmlDeviceGetTotalEnergyConsumption``, millijoules since the driver loaded, Volta and newer),
  read before and after the take; ``method: nvml-energy-counter``. It covers the whole board, so a
  second process on the same GPU is counted too; it does not see the CPU, cooling or the datacenter.
* Otherwise (no GPU, no ``nvidia-ml-py``, a device without the counter): the CPU time of the process
  and of the encoders it waited for, times :data:`WATTS_PER_BUSY_CORE`; ``method: cpu-time-estimate``
  and ``estimate: true``. RAPL counters are root-only on most systems since CVE-2020-8694, so they are
  not tried.

GPU-seconds are the take's wall time on the one GPU a worker holds (0 for a CPU take).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

#: assumed draw of one busy CPU core, for the estimate: about half of a 20-core, 400 W server
#: package's TDP per core (CodeCarbon's fallback also takes 50 % of TDP when no counter is readable)
WATTS_PER_BUSY_CORE = 10.0
JOULES_PER_KWH = 3.6e6
NVML = "nvml-energy-counter"
ESTIMATE = "cpu-time-estimate"


@dataclass
class _Nvml:
    nvml: Any
    handle: Any
    name: str
    start_mj: int = 0


def _cuda_in_use() -> bool:
    torch = sys.modules.get("torch")  # a weightless take never imported torch: no GPU to account
    return bool(torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized())


def _open_nvml() -> tuple[_Nvml | None, str]:
    """The NVML handle of the GPU this process uses, or None and why not."""
    try:
        import pynvml  # the nvidia-ml-py distribution
    except ImportError:
        return None, "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
        handle = None
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            uuid = str(getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", "") or "")
            if uuid:
                handle = pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
        if handle is None:  # torch not loaded yet: the first visible device, by UUID or by index
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
            handle = (pynvml.nvmlDeviceGetHandleByUUID(visible) if visible.startswith("GPU-") else
                      pynvml.nvmlDeviceGetHandleByIndex(int(visible) if visible.isdigit() else 0))
        name = pynvml.nvmlDeviceGetName(handle)
        name = name.decode() if isinstance(name, bytes) else str(name)
        reader = _Nvml(pynvml, handle, name)
        reader.start_mj = int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        return reader, ""
    except Exception as exc:  # noqa: BLE001 - NVMLError_NotSupported (MIG, vGPU, pre-Volta), no driver...
        return None, f"NVML: {type(exc).__name__}: {exc}"


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Meter:
    """Measures one take: ``with Meter() as meter: ...``, then :meth:`record` for the manifest.

    ``gpu``: whether the take may use a GPU (a diffusion generator); the counter is read only then,
    and only when CUDA was initialised by the end of the take."""

    gpu: bool = False
    _t0: float = 0.0
    _c0: float = 0.0
    _nvml: _Nvml | None = None
    _why: str = ""
    result: dict[str, Any] = field(default_factory=dict)

    def __enter__(self) -> Meter:
        if self.gpu:
            self._nvml, self._why = _open_nvml()
        self._t0, self._c0 = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        if self._nvml is not None and _cuda_in_use():
            sys.modules["torch"].cuda.synchronize()  # queued kernels belong to this take
        wall, cpu = time.perf_counter() - self._t0, _cpu_seconds() - self._c0
        self.result = self._measured(wall, cpu) or self._estimated(wall, cpu)
        if self._nvml is not None:
            try:
                self._nvml.nvml.nvmlShutdown()  # nvmlInit counts its callers: one shutdown per init
            except Exception:  # noqa: BLE001, S110 - a library without it, or already shut down
                pass

    def _measured(self, wall: float, cpu: float) -> dict[str, Any] | None:
        reader = self._nvml
        if reader is None:
            return None
        try:
            end_mj = int(reader.nvml.nvmlDeviceGetTotalEnergyConsumption(reader.handle))
        except Exception as exc:  # noqa: BLE001
            self._why = f"NVML: {type(exc).__name__}: {exc}"
            return None
        if not _cuda_in_use():
            self._why = "the take did not use the GPU"
            return None
        if end_mj < reader.start_mj:  # the driver reloaded: the counter restarted from 0
            self._why = "the NVML energy counter went back (driver reloaded during the take): not measured"
            return None
        joules = (end_mj - reader.start_mj) / 1000.0
        return {"method": NVML, "estimate": False, "device": reader.name, "wall_s": round(wall, 3),
                "gpu_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "joules": round(joules, 3),
                "kwh": joules / JOULES_PER_KWH,
                "scope": "the whole GPU board; CPU, cooling and datacenter overhead not included"}

    def _estimated(self, wall: float, cpu: float) -> dict[str, Any]:
        joules = cpu * WATTS_PER_BUSY_CORE
        return {"method": ESTIMATE, "estimate": True, "device": "cpu", "wall_s": round(wall, 3),
                "gpu_seconds": 0.0, "cpu_seconds": round(cpu, 3), "joules": round(joules, 3),
                "kwh": joules / JOULES_PER_KWH, "assumed_w_per_core": WATTS_PER_BUSY_CORE,
                "scope": f"estimate: CPU-seconds x {WATTS_PER_BUSY_CORE:g} W per busy core; no energy counter read"
                         + (f" ({self._why})" if self._why else "")}


def totals(manifests: list[dict]) -> dict[str, Any]:
    """The cost of a set of takes: GPU-seconds, joules measured and estimated, and the methods."""
    takes = without = 0
    gpu_seconds = measured = estimated = 0.0
    methods: list[str] = []
    for manifest in manifests:
        cost = manifest.get("cost") or {}
        if not cost.get("method"):
            without += 1
            continue
        takes += 1
        gpu_seconds += float(cost.get("gpu_seconds") or 0.0)
        if cost.get("estimate"):
            estimated += float(cost.get("joules") or 0.0)
        else:
            measured += float(cost.get("joules") or 0.0)
        method = cost["method"] + (f" on {cost['device']}" if cost.get("device") not in (None, "", "cpu") else "")
        if method not in methods:
            methods.append(method)
    return {"takes": takes, "takes_without_cost": without, "gpu_seconds": gpu_seconds, "measured_joules": measured,
            "estimated_joules": estimated, "methods": methods, "joules": measured + estimated,
            "kwh": (measured + estimated) / JOULES_PER_KWH}


def sentence(total: dict[str, Any], what: str = "this film") -> str:
    """'this film took 14.2 GPU-hours, about 9 kWh (...)': the figures with how they were obtained."""
    hours = total["gpu_seconds"] / 3600
    how = []
    if total["measured_joules"]:
        how.append(f"{total['measured_joules'] / JOULES_PER_KWH:.3g} kWh measured on the GPU board by NVML")
    if total["estimated_joules"]:
        how.append(f"{total['estimated_joules'] / JOULES_PER_KWH:.3g} kWh estimated from CPU time at "
                   f"{WATTS_PER_BUSY_CORE:g} W per core")
    if total["takes_without_cost"]:
        how.append(f"{total['takes_without_cost']} take(s) made before costs were recorded not counted")
    return (f"{what} took {hours:.3g} GPU-hours, about {total['kwh']:.3g} kWh"
            + (f" ({'; '.join(how)})" if how else ""))
