"""Benchmark the transcription step: its real-time factor (processing seconds / seconds of speech).

Run from the repository root:  .venv/bin/python bench/bench_transcribe.py [--device cuda] [--rounds 3] [--threads 1]
(on a GPU machine, ``--device cuda`` times the same on the GPU, in float16).

The model is the smallest real Whisper architecture, openai/whisper-tiny's (d_model 384, 4 encoder
and 4 decoder layers of 6 heads, 80 mel bins, vocabulary 51865), at random weights: time does not
depend on the weights, and no weights are downloaded. Random weights never say <|endoftext|>, so
each voice's decoding stops at 40 tokens, about what a real Whisper emits for six seconds of speech.
It is saved into a Hugging Face cache layout in a fresh folder under /tmp (removed afterwards),
with a copy of the demo project whose models.yaml names it.

Two ways, on the demo's three voices (French, Arabic, Vietnamese: 19.4 s of speech), each
timed per round after a warm-up round, the model loaded once (load time printed apart):

1. racines: ``racines.subtitles.transcribe.transcribe_film`` with ``redo``: ffmpeg decoding to
   16 kHz, Whisper with word timestamps and the language forced, phrases, the transcript
   written and read back, the draft record;
2. the peer: the same model called directly through transformers' ASR pipeline, without racines
   (scipy reads the WAV, resample_poly to 16 kHz), word timestamps and the language forced.

It prints each real-time factor (median of the rounds) and their ratio racines / pipeline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REPO = "racines-bench/whisper-tiny"
MAX_TOKENS = 40


def project(folder: Path) -> Path:
    root = folder / "demo"
    shutil.copytree(ROOT / "shots", root / "shots")
    for typed in (root / "shots" / "sound").glob("*.vtt"):   # the demo's typed transcripts: drafts never replace them
        typed.unlink()
    (root / "models.yaml").write_text(f"models:\n  whisper-tiny-random: {{repo: {REPO}, licence: test-only, "
                                      "library: transformers}\n")
    return root


def peer_round(asr, voices) -> float:
    import numpy as np
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    started = time.perf_counter()
    for clip in voices:
        rate, data = wavfile.read(clip.recording.path)
        samples = data.astype(np.float32) / (np.iinfo(data.dtype).max + 1 if data.dtype.kind == "i" else 1)
        samples = samples.mean(axis=1) if samples.ndim == 2 else samples
        samples = resample_poly(samples, 16000, rate).astype(np.float32)
        out = asr({"raw": samples, "sampling_rate": 16000}, return_timestamps="word",
                  generate_kwargs={"language": clip.language, "task": "transcribe"})
        assert "chunks" in out
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch's intra-op threads on the CPU (default 1: on a busy 2-core machine more spin)")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import torch

    torch.set_num_threads(args.threads)

    from racines import pipeline
    from racines.subtitles import drafts, tiny
    from racines.subtitles.transcribe import load_whisper, transcribe_film

    folder = Path(tempfile.mkdtemp(prefix="bench-transcribe-"))
    try:
        hub = folder / "hub"
        tiny.into_hf_cache(tiny.whisper_tiny_architecture(max_length=MAX_TOKENS), hub, REPO)
        os.environ["HF_HUB_CACHE"] = str(hub)
        root = project(folder)
        film = pipeline.load(root, "draft")
        voices = [clip for clip in drafts.voices(film) if clip.consented]
        speech = float(sum((drafts.recording_seconds(clip) for clip in voices), Fraction(0)))
        device = drafts.choose_device(args.device)

        started = time.perf_counter()
        whisper = load_whisper(drafts.model_of(film, "whisper-tiny-random", ("whisper",), "transcription"), device)
        racines_load = time.perf_counter() - started
        params = sum(p.numel() for p in whisper.asr.model.parameters())
        # racines' own entry point, its model loaded once like the peer's (load_whisper is what it calls)
        import racines.subtitles.transcribe as transcribe

        transcribe.load_whisper = lambda model, device: whisper

        from transformers import WhisperForConditionalGeneration, WhisperProcessor
        from transformers import pipeline as hf_pipeline

        started = time.perf_counter()
        folder_of_model = whisper.model.folder
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        peer_model = WhisperForConditionalGeneration.from_pretrained(folder_of_model, dtype=dtype,
                                                                     attn_implementation="eager").to(device).eval()
        processor = WhisperProcessor.from_pretrained(folder_of_model)
        asr = hf_pipeline("automatic-speech-recognition", model=peer_model, tokenizer=processor.tokenizer,
                          feature_extractor=processor.feature_extractor, device=device, dtype=dtype)
        peer_load = time.perf_counter() - started

        timings: dict[str, list[float]] = {"racines": [], "pipeline": []}
        for round_index in range(args.rounds + 1):           # round 0 warms up both
            started = time.perf_counter()
            outcomes = transcribe_film(film, "whisper-tiny-random", device, redo=True)
            elapsed = time.perf_counter() - started
            assert [o.state for o in outcomes] == ["written"] * len(voices), outcomes
            peer = peer_round(asr, voices)
            if round_index:
                timings["racines"].append(elapsed)
                timings["pipeline"].append(peer)

        print(f"device: {device} ({torch.cuda.get_device_name() if device.startswith('cuda') else os.cpu_count()} "
              f"{'' if device.startswith('cuda') else 'cores, '}torch threads {torch.get_num_threads()})")
        print(f"model: whisper-tiny architecture at random weights, {params / 1e6:.1f} M parameters, "
              f"decoding capped at {MAX_TOKENS} tokens a voice")
        print(f"speech: {len(voices)} voices, {speech:.2f} s; rounds: {args.rounds} after one warm-up")
        print(f"model load: racines {racines_load:.2f} s (resolution, safety checks, loading), "
              f"pipeline {peer_load:.2f} s")
        medians = {name: statistics.median(values) for name, values in timings.items()}
        for name, value in medians.items():
            spread = ", ".join(f"{v:.2f}" for v in timings[name])
            print(f"{name:>8}: {value:.2f} s for {speech:.2f} s of speech: real-time factor {value / speech:.3f} "
                  f"(rounds {spread} s)")
        print(f"ratio racines / pipeline: {medians['racines'] / medians['pipeline']:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
