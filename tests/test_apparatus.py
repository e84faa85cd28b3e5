"""The apparatus card: the chain of models of every generator kind, their parameter counts read from
safetensors headers (equal to the models' own count), and the exact tokens an encoder cut off."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from racines.cli import main
from racines.generators import get_generator
from racines.generators.diffusion import tiny
from racines.generators.diffusion.apparatus import header_shapes, parameters_in, token_report
from racines.pipeline import load
from racines.takes.store import TakeStore
from tests.conftest import write_diffusion_project
from tests.test_seed_models import seed_hub  # noqa: F401  (the fixture)
from tests.test_seed_models import write_project as seed_project

WORDS = (tiny.WORDS[3:] * 4)[:90]           # 90 known words: one token each with the tiny tokenizers
LONG = " ".join(WORDS)
PHOTO = "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\nduration: 12\n"
DRAFT = f"generator: {{kind: morph, prompt: {LONG}, seed: 3, target: photos/bloom.png}}\n"
TEXT = "max_sequence_length: 16, steps: 2"
SHOTS = {  # kind -> (final block, tiny builder, {tokenizer: window})
    "svd": ("{kind: svd, model: tiny-svd, width: 32, height: 32, num_frames: 14, steps: 2}", "svd", {}),
    "wan-i2v": (f"{{kind: wan-i2v, model: tiny-wan, width: 16, height: 16, num_frames: 9, {TEXT}}}", "wan-i2v",
                {"tokenizer": 16}),
    "wan-flf2v": (f"{{kind: wan-flf2v, model: tiny-wan-flf, width: 16, height: 16, num_frames: 9, {TEXT}}}",
                  "wan-flf2v", {"tokenizer": 16}),
    "ltx": (f"{{kind: ltx, model: tiny-ltx, width: 32, height: 32, num_frames: 9, {TEXT}}}", "ltx", {"tokenizer": 16}),
    "cogvideox": (f"{{kind: cogvideox, model: tiny-cog, width: 16, height: 16, num_frames: 9, {TEXT}}}", "cogvideox",
                  {"tokenizer": 16}),
    "keyframe": ("{kind: keyframe, model: tiny-sd, width: 32, height: 32, steps: 2, strength: 0.6}", "sd",
                 {"tokenizer": 77}),
    "kontext": (f"{{kind: keyframe, model: tiny-kontext, width: 32, height: 32, {TEXT}}}", "flux-kontext",
                {"tokenizer": 77, "tokenizer_2": 16}),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_hub):
    ids = {kind: f"s{index:02d}0" for index, kind in enumerate(SHOTS, 1)}
    root = write_diffusion_project(tmp_path_factory.mktemp("apparatus") / "film",
                                   {ids[k]: PHOTO + DRAFT + f"final: {SHOTS[k][0]}\n" for k in SHOTS})
    return root, ids


def live_counts(pipe) -> dict[str, int]:
    return {name: sum(p.numel() for p in module.parameters()) for name, module in pipe.components.items()
            if isinstance(module, torch.nn.Module)}


@pytest.mark.parametrize("kind", list(SHOTS))
def test_card_of_each_diffusion_kind(project, kind):
    root, ids = project
    film = load(root, "final", models=True)
    generator = get_generator(film.shots[ids[kind]].kind)
    list(generator.frames(film.shots[ids[kind]], film))
    card = generator.apparatus()
    assert card["weights"] is True and len(card["runs"]) == 1
    run = card["runs"][0]
    live = live_counts(tiny.BUILDERS[SHOTS[kind][1]]())
    counted = {m["component"]: m["parameters"] for m in run["chain"] if "component" in m and m["role"] != "adapter"}
    assert counted == live  # every module of the pipeline, each counted from its headers alone
    assert all(m["counted_from"] == "safetensors headers" for m in run["chain"] if "component" in m)
    roles = [m["role"] for m in run["chain"]]
    assert roles == sorted(roles, key=["text encoder", "image encoder", "denoiser", "VAE", "scheduler"].index)
    assert run["chain"][-1]["class"] == type(tiny.BUILDERS[SHOTS[kind][1]]().scheduler).__name__
    model = run["model"]
    assert model["source"].startswith(f"racines-tiny/{SHOTS[kind][1]}@") and len(model["revision"]) == 40
    assert model["model_card"] == f"https://huggingface.co/racines-tiny/{SHOTS[kind][1]}"
    assert model["training_data"] == "not disclosed in the model card"
    assert run["prompt"]["written"] == LONG and run["seed"] == 3
    encoders = {e["tokenizer"]: e for e in run["prompt"]["encoders"]}
    assert {name: e["window"] for name, e in encoders.items()} == SHOTS[kind][2]
    for name, window in SHOTS[kind][2].items():  # the exact words past each encoder's window
        assert encoders[name]["lost_tokens"] == WORDS[window:]
        assert encoders[name]["received"].split() == WORDS[:window]
        assert encoders[name]["lost_text"].split() == WORDS[window:]
    assert card["after"][0]["role"] == "retime" and card["after"][0]["retime"]["take_frames"] == 12


SEED_KINDS = {  # the seeds' kinds, on their own tiny checkpoints: kind -> (final block, tiny builder, {tokenizer: window})
    "inpaint": ("{kind: inpaint, model: tiny-sd15-inpaint, width: 64, height: 40, steps: 2, "
                "polygon: [[0.3, 0.2], [0.7, 0.2], [0.6, 0.8]]}", "sd1.5-inpaint", {"tokenizer": 77}),
    "flux2": ("{kind: flux2, model: tiny-flux2, width: 64, height: 64, steps: 2, max_sequence_length: 16}", "flux2",
              {"tokenizer": 16}),
}


@pytest.mark.usefixtures("seed_hub")
@pytest.mark.parametrize("kind", list(SEED_KINDS))
def test_card_of_each_seed_kind(tmp_path, kind):
    final, builder, windows = SEED_KINDS[kind]
    root = seed_project(tmp_path / "film", {"s010": PHOTO + DRAFT + f"final: {final}\n"})
    film = load(root, "final", models=True)
    generator = get_generator(kind)
    list(generator.frames(film.shots["s010"], film))
    run = generator.apparatus()["runs"][0]
    counted = {m["component"]: m["parameters"] for m in run["chain"] if "component" in m and m["role"] != "adapter"}
    live = live_counts(tiny.BUILDERS[builder]())
    live.pop("safety_checker", None)  # SD's checker is not loaded (it blacks out frames), so not in the chain
    assert counted == live
    encoders = {e["tokenizer"]: e for e in run["prompt"]["encoders"]}
    for name, window in windows.items():
        assert encoders[name]["window"] == window
        # the prompt's end is what the encoder never read (SD 1.5's tokenizer is a real BPE: pieces, not words)
        assert encoders[name]["lost_tokens"] and encoders[name]["lost_text"].split()[-3:] == WORDS[-3:]

def test_header_counts_equal_loaded_counts_and_refuse_a_huge_header(tmp_path):
    pipe = tiny.wan()
    tiny.save(pipe, tmp_path / "wan")
    for name, count in live_counts(pipe).items():
        assert parameters_in(tmp_path / "wan" / name) == count
    bad = tmp_path / "wan" / "bad.safetensors"
    bad.write_bytes((200_000_000).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="too large"):
        header_shapes(bad)
    assert parameters_in(tmp_path / "wan" / "scheduler") is None  # no safetensors there: no count rather than 0


def test_a_short_prompt_loses_nothing_and_the_encoder_receives_it_whole():
    pipe = tiny.wan()
    report = token_report(pipe, "her scarf into jasmine flowers", 16)
    assert report[0]["truncated"] == 0 and report[0]["lost_tokens"] == [] and report[0]["received"] == \
        "her scarf into jasmine flowers"


def test_weightless_kinds_have_a_card_in_the_manifest_and_in_provenance(tiny_project):
    result = CliRunner().invoke(main, ["--project", str(tiny_project), "render"])
    assert result.exit_code == 0, result.output
    store = TakeStore(tiny_project)
    kinds = {}
    for shot in ("s010", "s020", "s030", "s040"):
        manifest = json.loads((store.latest(shot).folder / "manifest.json").read_text())
        card = manifest["apparatus"]
        kinds[card["generator"]] = card
        assert card["weights"] is False and card["parameters"] == 0 and card["runs"] == []
        assert card["after"][0]["component"].startswith(f"racines.generators.{card['generator']}.")
        assert manifest["cost"]["method"] == "cpu-time-estimate" and manifest["cost"]["estimate"] is True
    assert [m["component"] for m in kinds["morph"]["after"][1:]] == ["racines.motion.morph", "racines.motion.warp"]
    assert set(kinds) == {"kenburns", "morph", "still", "credits"}
    shown = CliRunner().invoke(main, ["--project", str(tiny_project), "provenance", "s020", "--apparatus"])
    assert shown.exit_code == 0, shown.output
    assert "racines.motion.morph" in shown.output and "no model weights" in shown.output
    assert get_generator("walk").apparatus()["after"][0]["component"] == "racines.generators.walk.WalkDraftGenerator"
    # the review room's shot page shows the same card (its provenance panel)
    from racines.review.state import provenance

    film = load(tiny_project)
    shown = provenance(film.shots["s020"], store.latest("s020"))["apparatus"]
    assert shown[0].startswith("apparatus of shot s020 take v001 (morph 2)") and shown[-1].startswith("cost ")


def test_card_with_a_target_keyframe_and_a_prompt_enhancer(tmp_path, tiny_hub):
    final = ("final: {kind: ltx, model: tiny-ltx, width: 32, height: 32, num_frames: 9, max_sequence_length: 16, "
             "steps: 2, enhance_prompt: tiny-lm, target: {model: tiny-sd, prompt: a portrait of jasmine flowers, "
             "steps: 2, strength: 0.6}}")
    root = write_diffusion_project(tmp_path / "film", {"s010": PHOTO.replace("12", "9") + DRAFT + final + "\n"})
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--shot", "s010"])
    assert result.exit_code == 0, result.output
    manifest = TakeStore(root).latest("s010").manifest
    target, clip = manifest["apparatus"]["runs"]
    assert target["makes"] == "the target keyframe" and target["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert target["prompt"]["written"] == "a portrait of jasmine flowers"
    assert "apparatus" not in manifest["generation"]["keyframe"]  # the card is kept once, in the card
    enhancer = clip["chain"][0]
    lm = tiny.language_model()[0]
    assert enhancer["role"] == "prompt enhancer" and enhancer["source"].startswith("racines-tiny/lm@")
    assert enhancer["parameters"] == sum(p.numel() for p in lm.parameters())
    enhanced = manifest["generation"]["runs"][0]["prompt_enhanced"]
    assert clip["prompt"]["written"] == LONG and clip["prompt"]["enhanced"] == enhanced
    (t5,) = clip["prompt"]["encoders"]  # what the T5 encoder read: the enhanced prompt, up to 16 tokens
    assert t5["tokens"] == len(tiny.tokenizer()(enhanced)["input_ids"]) and t5["window"] == 16
    assert manifest["apparatus"]["parameters"] == target["parameters"] + clip["parameters"]


def test_flux2_reports_its_system_message_and_the_window_it_shares():
    """FLUX.2 wraps every prompt in a chat template with its own system message: the window holds both,
    so more of the prompt is cut than its own length says; the report reads what the pipeline encodes."""
    from diffusers.pipelines.flux2.pipeline_flux2 import format_input

    from racines.generators.diffusion.apparatus import system_message

    pipe = tiny.flux2()
    words = (tiny.WORDS[3:] * 30)[:600]
    (report,) = token_report(pipe, " ".join(words), 512)
    assert system_message(pipe).startswith("You are an AI that reasons about image descriptions")
    encoded = pipe.tokenizer.apply_chat_template(format_input([" ".join(words)], pipe.system_message), tokenize=True,
                                                 add_generation_prompt=False, truncation=True, max_length=512,
                                                 return_dict=True)["input_ids"][0]
    assert report["received"] == pipe.tokenizer.decode(encoded, skip_special_tokens=True)
    assert report["window"] == 512 and report["truncated"] == report["tokens"] - 512 > 600 - 512
