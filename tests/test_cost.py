"""What a take cost: NVML's energy counter when a GPU was used (a fake NVML here), else CPU time and a
labelled estimate; the sums and the sentence of the credits and the dailies."""

from __future__ import annotations

import json
import sys
import types

import pytest
import torch

from racines.core.cost import ESTIMATE, NVML, WATTS_PER_BUSY_CORE, Meter, sentence, totals
from racines.generators.credits import credit_lines


class FakeNvml(types.ModuleType):
    """nvidia-ml-py's pynvml, with a scripted energy counter (millijoules)."""

    def __init__(self, readings, fail=None):
        super().__init__("pynvml")
        self.readings, self.fail, self.inits = list(readings), fail, 0

    def nvmlInit(self):
        self.inits += 1

    def nvmlShutdown(self):
        self.inits -= 1

    def nvmlDeviceGetHandleByUUID(self, uuid):
        assert uuid == "GPU-1234"
        return "handle"

    def nvmlDeviceGetHandleByIndex(self, index):
        return "handle"

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if self.fail:
            raise self.fail
        return self.readings.pop(0)


@pytest.fixture
def gpu(monkeypatch):
    """A CUDA device that this process has used, as torch reports it."""
    synced = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(uuid="1234"))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: synced.append(True))
    return synced


def busy(seconds=0.05):
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_nvml_counter_difference_is_the_takes_energy(monkeypatch, gpu):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([1_000_000, 1_450_500]))
    with Meter(gpu=True) as meter:
        busy()
    result = meter.result
    assert result["method"] == NVML and result["estimate"] is False
    assert result["joules"] == pytest.approx(450.5) and result["kwh"] == pytest.approx(450.5 / 3.6e6)
    assert result["device"] == "NVIDIA H100 80GB HBM3" and result["gpu_seconds"] == result["wall_s"] > 0
    assert gpu == [True]  # the queued kernels were waited for before the second read
    assert "whole GPU board" in result["scope"]
    assert sys.modules["pynvml"].inits == 0  # shut down as often as initialised


def test_a_counter_that_went_back_is_not_a_measure(monkeypatch, gpu):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([9_000_000, 1_000]))
    with Meter(gpu=True) as meter:
        busy()
    assert meter.result["method"] == ESTIMATE and "driver reloaded" in meter.result["scope"]


def test_a_gpu_without_the_counter_falls_back_to_the_estimate_and_says_why(monkeypatch, gpu):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([], fail=RuntimeError("NVMLError_NotSupported")))
    with Meter(gpu=True) as meter:
        busy()
    assert meter.result["method"] == ESTIMATE and "NVMLError_NotSupported" in meter.result["scope"]


def test_a_weightless_take_never_reads_nvml(monkeypatch, gpu):
    fake = FakeNvml([1, 2])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    with Meter(gpu=False) as meter:
        busy()
    assert fake.inits == 0 and meter.result["method"] == ESTIMATE and meter.result["gpu_seconds"] == 0.0


def test_on_the_cpu_the_estimate_is_cpu_time_times_the_stated_watts(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # nvidia-ml-py not installed: import fails
    with Meter(gpu=True) as meter:
        busy(0.2)
    result = meter.result
    assert result["method"] == ESTIMATE and result["estimate"] is True and result["device"] == "cpu"
    assert result["cpu_seconds"] >= 0.19
    assert result["joules"] == pytest.approx(result["cpu_seconds"] * WATTS_PER_BUSY_CORE, abs=WATTS_PER_BUSY_CORE * 1e-3)
    assert "estimate" in result["scope"] and "nvidia-ml-py is not installed" in result["scope"]


def manifests():
    gpu_take = {"cost": {"method": NVML, "estimate": False, "device": "NVIDIA H100", "gpu_seconds": 5400.0,
                         "joules": 3.6e6 * 0.5}}
    cpu_take = {"cost": {"method": ESTIMATE, "estimate": True, "device": "cpu", "gpu_seconds": 0.0,
                         "joules": 3.6e6 * 0.25}}
    return [gpu_take, gpu_take, cpu_take, {"cost": {}}]


def test_film_totals_and_the_sentence_name_the_method():
    total = totals(manifests())
    assert total["takes"] == 3 and total["takes_without_cost"] == 1
    assert total["gpu_seconds"] == 10800.0 and total["kwh"] == pytest.approx(1.25)
    assert total["methods"] == [f"{NVML} on NVIDIA H100", ESTIMATE]
    assert sentence(total) == ("this film took 3 GPU-hours, about 1.25 kWh (1 kWh measured on the GPU board by NVML; "
                               "0.25 kWh estimated from CPU time at 10 W per core; 1 take(s) made before costs were "
                               "recorded not counted)")


def test_end_credits_say_what_the_film_took():
    base = {"generator": {"name": "wan-i2v", "description": "racines wan-i2v 1 with Wan-AI/Wan2.1"}, "source": None}
    lines = credit_lines([{**base, **m} for m in manifests()], "Racines", [], cost=True)
    text = [line for _, line in lines]
    assert "This film took 3 GPU-hours, about 1.25 kWh" in text
    method = text[text.index("This film took 3 GPU-hours, about 1.25 kWh") + 1]
    assert "measured on the GPU board by NVML" in method and "estimated from CPU time" in method
    assert not any("GPU-hours" in line for _, line in credit_lines([base], "Racines", [], cost=True))  # none known
    assert not any("GPU-hours" in line for _, line in credit_lines([{**base, **m} for m in manifests()], "R", []))


def test_dailies_sum_the_nights_takes_and_show_the_card(tiny_project):
    from click.testing import CliRunner

    from racines.cli import main

    shot = tiny_project / "shots/s040.yaml"
    shot.write_text(shot.read_text().replace("heading: Tiny}", "heading: Tiny, cost: true}"))
    assert CliRunner().invoke(main, ["--project", str(tiny_project), "batch"]).exit_code == 0
    (folder,) = (tiny_project / "renders" / "dailies").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    made = summary["cost"]["made"]
    takes = [s["take"] for s in summary["shots"]]
    assert made["takes"] == 4 and made["methods"] == [ESTIMATE]
    assert made["joules"] == pytest.approx(sum(t["cost"]["joules"] for t in takes))
    page = (folder / "index.html").read_text()
    assert "tonight&#x27;s takes took 0 GPU-hours, about" in page and "Apparatus card" in page
    assert "racines.motion.morph" in page  # the morph's chain, in its card
    from racines.takes.store import TakeStore

    credits = TakeStore(tiny_project).latest("s040").manifest
    assert credits["cost"]["method"] == ESTIMATE
