"""The final profile before any work: profiles, final: blocks, shape rules, models that are
missing or refused, and what enters the cache key. No pipeline runs here."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from racines.cli import main
from racines.errors import ValidationFailed
from racines.film.loader import load_film
from racines.generators.diffusion.timing import retime, speed_of
from racines.pipeline import load
from racines.takes.cache import HashCache, key_of
from racines.takes.make import take_inputs
from tests.conftest import REPO, TINY_SHOTS, tree_digest, write_tiny_project

PHOTO = "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\nduration: 24\n"
MORPH = "generator: {kind: morph, prompt: her scarf into jasmine, seed: 3, target: photos/bloom.png}\n"
KENBURNS = "generator: {kind: kenburns, seed: 3}\n"


def run(root, *args):
    return CliRunner().invoke(main, ["--project", str(root), *args])


def project(tmp_path, final: str, draft: str = MORPH, models: str | None = None, film_profile: str = "") -> Path:
    shots = dict(TINY_SHOTS, s020=PHOTO + draft + final + "\n")
    film = ("title: T\nresolution: 256x144\ncut: [s010, s020, s030, s040]\n" + film_profile)
    root = write_tiny_project(tmp_path / "film", shots, film)
    if models is not None:
        (root / "models.yaml").write_text(models)
    return root


def fake_pipeline(folder: Path, class_name: str, components: dict[str, list] | None = None) -> Path:
    """A pipeline folder with only its index (enough to resolve and key it; never loaded)."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {"_class_name": class_name, "_diffusers_version": "0.42.1", **(components or {})}
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def problems(root, profile=None, models=True):
    with pytest.raises(ValidationFailed) as caught:
        load(root, profile, models=models)
    return caught.value.problems


# --- profiles ------------------------------------------------------------------------------


def test_profile_chooses_the_generator_and_final_inherits_prompt_seed_and_target(tmp_path, empty_hub):
    root = project(tmp_path, "final: {kind: wan-flf2v, steps: 30}")
    draft = load_film(root)
    assert draft.shots["s020"].kind == "morph" and draft.shots["s020"].profile == "draft"
    final = load_film(root, "final").shots["s020"]
    assert final.kind == "wan-flf2v" and final.renders_final and final.profile == "final"
    settings = final.generator
    assert (settings.prompt, settings.seed, settings.target) == ("her scarf into jasmine", 3, "photos/bloom.png")
    assert settings.model == "wan2.1-flf2v-720p" and final.assets["target"].name == "bloom.png"
    # a shot without final: renders its draft at the final profile
    assert load_film(root, "final").shots["s010"].kind == "kenburns"


def test_film_profile_shot_profile_and_run_profile(tmp_path):
    root = project(tmp_path, "final: {kind: ltx}\nprofile: draft", film_profile="profile: final\n")
    assert load_film(root).shots["s020"].kind == "morph"            # the shot's own profile wins over the film's
    assert load_film(root, "final").shots["s020"].kind == "ltx"     # the run's wins over both
    shot = tmp_path / "film" / "shots" / "s020.yaml"
    shot.write_text(shot.read_text().replace("profile: draft", ""))
    assert load_film(root).shots["s020"].kind == "ltx"              # the film's profile


def test_adding_a_final_block_leaves_the_draft_take_up_to_date(tmp_path):
    root = write_tiny_project(tmp_path / "film")
    before = key_of(take_inputs(load_film(root).shots["s020"], load_film(root), HashCache()))
    shot = root / "shots" / "s020.yaml"
    shot.write_text(shot.read_text() + "final: {kind: wan-flf2v}\n")
    film = load_film(root)
    assert key_of(take_inputs(film.shots["s020"], film, HashCache())) == before


# --- shape rules, located like every other problem ----------------------------------------


@pytest.mark.parametrize("final, field, value, words", [
    ("{kind: wan-flf2v, num_frames: 80}", "final.num_frames", 80, ("4k+1", "use 77 or 81")),
    ("{kind: wan-i2v, width: 840, height: 480}", "final.width", 840, ("divisible by 16", "use 832 or 848")),
    ("{kind: ltx, num_frames: 100, width: 768, height: 512}", "final.num_frames", 100, ("8k+1", "use 97 or 105")),
    ("{kind: ltx, width: 700, height: 512}", "final.width", 700, ("divisible by 32", "use 672 or 704")),
    ("{kind: svd, num_frames: 16}", "final.num_frames", 16, ("14 or 25", "use 14 or 25")),
    ("{kind: svd, height: 500, width: 1024}", "final.height", 500, ("divisible by 8", "use 496 or 504")),
    ("{kind: cogvideox, num_frames: 48}", "final.num_frames", 48, ("8k+1", "use 41 or 49")),
    ("{kind: keyframe, strength: 0.01, steps: 20}", "final.strength", 0.01, ("int(steps x strength)", "at least")),
    ("{kind: svd, lora: [{path: photos/grid.png}]}", "final.lora.0.path", "photos/grid.png", (".safetensors",)),
    ("{kind: wan-flf2v, model: nope}", "final.model", "nope", ("no model of this name", "wan2.1-flf2v-720p")),
    ("{kind: wan-i2v, enhance_prompt: svd}", "final.enhance_prompt", "svd", ("transformers", "racines models")),
    ("{kind: ltx, target: {strength: 0.5, width: 1000, height: 512}}", "final.target.width", 1000,
     ("divisible by 16", "use 992 or 1008")),
])
def test_validate_rejects_wrong_shapes_with_file_line_field_value_and_fix(tmp_path, empty_hub, final, field, value,
                                                                         words):
    root = project(tmp_path, f"final: {final}")
    before = tree_digest(root / "renders")
    result = run(root, "validate")  # shapes are checked at any profile
    assert result.exit_code == 2, result.output
    (problem,) = [p for p in problems(root, models=False) if p.field == field]
    assert problem.file == "shots/s020.yaml" and problem.line == 4 and problem.value == value
    assert all(w in problem.message + problem.fix for w in words), (problem.message, problem.fix)
    assert f"shots/s020.yaml:4: {field}:" in result.output
    assert tree_digest(root / "renders") == before


def test_svd_takes_no_lora_and_flf_needs_a_target(tmp_path):
    (tmp_path / "film" / "shots").mkdir(parents=True)
    (tmp_path / "film" / "shots" / "petals.safetensors").write_bytes(b"{}")
    root = project(tmp_path, "final: {kind: svd, lora: [{path: petals.safetensors}]}")
    (problem,) = problems(root, models=False)
    assert problem.field == "final.lora" and "cannot load LoRA" in problem.message
    root = project(tmp_path / "b", "final: {kind: wan-flf2v}", draft=KENBURNS)
    (problem,) = problems(root, models=False)
    assert problem.field == "final.target" and "last frame" in problem.message and "target:" in problem.fix


def test_default_plan_covers_the_shot_with_frames_the_model_accepts(tmp_path):
    from racines.generators import get_generator

    root = project(tmp_path, "final: {kind: wan-flf2v}")
    film = load_film(root, "final")
    shot = film.shots["s020"]  # 24 frames at 24 fps: 16 frames at Wan's 16 fps -> 17 (4k+1)
    plan = get_generator("wan-flf2v").plan(shot.generator, shot, film)
    assert (plan.num_frames, plan.fps) == (17, 16)
    assert (plan.width, plan.height) == (1280, 720)  # native 16:9 for a 16:9 film
    ltx = get_generator("ltx").plan(shot.generator.model_copy(update={"model": "ltx-video-0.9.5"}), shot, film)
    assert ltx.width % 32 == 0 and ltx.height % 32 == 0 and abs(ltx.width / ltx.height - 16 / 9) < 0.1


# --- models: missing, refused, listed ------------------------------------------------------


@pytest.mark.parametrize("command", [["validate"], ["validate", "--profile", "final"], ["render", "--profile", "final"],
                                     ["render", "--profile", "final", "--shot", "s020"]])
def test_a_missing_model_stops_before_any_work(tmp_path, empty_hub, command):
    root = project(tmp_path, "final: {kind: wan-flf2v}", film_profile="profile: final\n" if command == ["validate"]
                   else "")
    renders = root / "renders"
    (renders / "takes" / "s020" / "v001").mkdir(parents=True)
    (renders / "takes" / "s020" / "v001" / "manifest.json").write_text('{"approved": true}\n')
    (renders / "tiny_master.mov").write_bytes(b"an earlier master")
    before = tree_digest(renders)
    result = run(root, *command)
    assert result.exit_code == 2, result.output
    assert "shots/s020.yaml:4: final.model:" in result.output
    assert "the model 'wan2.1-flf2v-720p' (Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers at main) is not in the" in \
        result.output
    assert "fix: on a machine with internet run: hf download Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers" in result.output
    assert tree_digest(renders) == before and not (root / "edl").exists()


def test_draft_validation_notes_the_models_a_final_render_would_need(tmp_path, empty_hub):
    root = project(tmp_path, "final: {kind: wan-flf2v}")
    result = run(root, "validate")
    assert result.exit_code == 0, result.output
    assert "note: --profile final needs model 'wan2.1-flf2v-720p' (s020)" in result.output


def test_pickle_only_model_folder_is_refused(tmp_path, empty_hub):
    models = "models:\n  old-wan: {path: models/old-wan, licence: apache-2.0}\n"
    root = project(tmp_path, "final: {kind: wan-flf2v, model: old-wan}", models=models)
    folder = fake_pipeline(root / "models" / "old-wan", "WanImageToVideoPipeline",
                           {"transformer": ["diffusers", "WanTransformer3DModel"]})
    (folder / "transformer").mkdir()
    (folder / "transformer" / "config.json").write_text("{}")
    (folder / "transformer" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04 pickle")
    result = run(root, "validate", "--profile", "final")
    assert result.exit_code == 2
    assert "shots/s020.yaml:4: final.model: component transformer has only pickle weights " \
           "(diffusion_pytorch_model.bin), which can run code when loaded (got 'old-wan')" in result.output
    assert "fix: download the .safetensors files of this model, or convert the weights to safetensors" in result.output
    listing = run(root, "models")
    assert listing.exit_code == 0 and re.search(r"old-wan\s+refused", listing.output)


@pytest.mark.parametrize("index, words", [
    ({"transformer": ["my_transformer", "MagicTransformer"]}, "custom code"),
    ({}, "holds a LTXPipeline"),
])
def test_custom_code_and_wrong_pipelines_are_refused(tmp_path, empty_hub, index, words):
    models = "models:\n  odd: {path: models/odd}\n"
    root = project(tmp_path, "final: {kind: wan-flf2v, model: odd}", models=models)
    fake_pipeline(root / "models" / "odd", "LTXPipeline" if not index else "WanImageToVideoPipeline", index)
    (problem,) = problems(root, "final")
    assert problem.field == "final.model" and words in problem.message


def test_no_trust_remote_code_anywhere_in_racines():
    for path in (REPO / "racines").rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not re.search(r"trust_remote_code\s*=", line), f"{path}:{number}: {line.strip()}"


def test_models_yaml_problems_are_located(tmp_path):
    models = ("models:\n  both: {repo: org/name, path: models/x}\n  away: {path: ../../elsewhere}\n"
              "  typo: {repo: org/name, revison: abc}\n")
    root = project(tmp_path, "", models=models)
    found = {(p.file, p.field, p.line) for p in problems(root)}
    assert ("models.yaml", "models.both", 2) in found and ("models.yaml", "models.away.path", 3) in found
    assert ("models.yaml", "models.typo.revison", 4) in found


def test_racines_models_lists_presence_size_licence_and_advice(tmp_path, empty_hub):
    models = "models:\n  mine: {path: models/mine, licence: cc-by-4.0}\n"
    root = project(tmp_path, "final: {kind: wan-flf2v, model: mine}", models=models)
    folder = fake_pipeline(root / "models" / "mine", "WanImageToVideoPipeline")
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# mine\n")
    result = run(root, "models")
    assert result.exit_code == 0, result.output
    assert re.search(r"mine\s+present\s+\d+ B\s+models/mine\s+used by s020", result.output)
    assert "licence: apache-2.0" in result.output  # the model card's
    assert re.search(r"svd-xt\s+missing", result.output)
    assert "get it: on a machine with internet run: hf download stabilityai/stable-video-diffusion-img2vid-xt" \
           in result.output


# --- the cache key: profile, model revision ------------------------------------------------


def test_profile_and_model_revision_enter_the_cache_key(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    base = hub / "models--Wan-AI--Wan2.1-FLF2V-14B-720P-diffusers"
    old, new = "a" * 40, "b" * 40
    for commit in (old, new):
        fake_pipeline(base / "snapshots" / commit, "WanImageToVideoPipeline")
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(old)
    root = project(tmp_path, "final: {kind: wan-flf2v}")
    film = load(root, "final", models=True)
    inputs = take_inputs(film.shots["s020"], film, HashCache())
    assert inputs["profile"] == "final"
    assert inputs["model wan2.1-flf2v-720p"] == f"Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers@{old}"
    (base / "refs" / "main").write_text(new)  # a newer download of main
    again = take_inputs(film.shots["s020"], film, HashCache())
    assert key_of(again) != key_of(inputs) and again["model wan2.1-flf2v-720p"].endswith(new)
    pinned = project(tmp_path / "p", "final: {kind: wan-flf2v}", models=(
        f"models:\n  wan2.1-flf2v-720p: {{repo: Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers, revision: {old}}}\n"))
    film = load(pinned, "final", models=True)
    assert take_inputs(film.shots["s020"], film, HashCache())["model wan2.1-flf2v-720p"].endswith(old)
    offload = project(tmp_path / "o", "final: {kind: wan-flf2v, memory: {offload: model}}")
    film_o = load(offload, "final", models=True)
    assert key_of(take_inputs(film_o.shots["s020"], film_o, HashCache())) == key_of(
        take_inputs(load(root, "final").shots["s020"], load(root, "final"), HashCache()))  # offload keeps pixels


# --- retiming ------------------------------------------------------------------------------


def test_retime_gives_the_exact_count_and_keeps_the_ends():
    clip = [np.full((2, 2, 3), i, np.float32) for i in range(17)]  # 17 frames at 16 fps
    out = list(retime(clip, 16, 24, 25))  # natural: 16 frames span 1 s, 25 frames at 24 fps
    assert len(out) == 25 and out[0][0, 0, 0] == 0 and out[-1][0, 0, 0] == 16
    assert out[1][0, 0, 0] == pytest.approx(2 / 3) and out[3][0, 0, 0] == 2  # blends between, exact on frames
    assert speed_of(17, 16, 24, 25) == 1.0
    stretched = list(retime(clip, 16, 24, 24))  # one frame short: stretched, ends kept
    assert len(stretched) == 24 and stretched[-1][0, 0, 0] == 16
    assert speed_of(17, 16, 24, 24) == pytest.approx(24 / 23)
    assert [f[0, 0, 0] for f in retime(clip[:1], 7, Fraction(24000, 1001), 3)] == [0, 0, 0]
