"""Consent that reaches training: a LoRA training set from the consented photographs, its manifest
stamped into the LoRA's header, and a withdrawal that follows the photograph into the LoRA and out
to the takes made with it, while everything else stays as it was."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from racines.cli import main
from racines.pipeline import derived_for, load
from racines.takes.store import TakeStore
from racines.training.lora_manifest import (
    LoraUnreadable,
    beside,
    leaks,
    lora_dataset,
    metadata,
    read_header,
    stamp,
    tensor_sha256,
)
from tests.conftest import tree_digest, write_diffusion_project

PORTRAIT = "source: {photo: photos/grid.png, contributor: Amina, consent: granted, credit: The A. family}\n"
FLOWERS = "source: {photo: photos/bloom.png, contributor: Bao, consent: granted}\n"
KEYFRAME = ("final: {kind: keyframe, model: tiny-sd, width: 32, height: 32, steps: 2, strength: 0.6, "
            "lora: [{path: ../loras/faces.safetensors, scale: 0.8}]}\n")
SHOTS = {
    "s010": PORTRAIT + "duration: 12\ngenerator: {kind: kenburns, end: {x: 0.4, y: 0.4, zoom: 1.2}}\n",
    "s020": PORTRAIT + "duration: 12\ngenerator: {kind: still}\n" + KEYFRAME,
    "s030": FLOWERS + "duration: 12\ngenerator: {kind: still}\n",
    "s040": "duration: 12\ngenerator: {kind: credits, heading: Tiny}\n",
}
DATASET = """\
concept: rcnface
repeats: 10
images:
  - shot: s010
    caption: "[trigger], a portrait in a courtyard"
  - photo: photos/jasmine.png
    contributor: Lan
    consent: %s
    caption: "[trigger], jasmine on a wall"
  - photo: photos/rose.png
    contributor: Minh
    consent: pending
"""


def write_dataset(root, lan="granted", text=DATASET):
    folder = root / "datasets"
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    for name, value in (("jasmine", 90), ("rose", 170)):
        if not (folder / "photos" / f"{name}.png").exists():
            y, x = np.mgrid[0:48, 0:64]
            Image.fromarray(np.stack([x * 4 % 256, y * 5 % 256, np.full_like(x, value)], -1).astype(np.uint8)).save(
                folder / "photos" / f"{name}.png")
    (folder / "faces.yaml").write_text(text % lan if "%s" in text else text)


def run(root, *args):
    return CliRunner().invoke(main, ["--project", str(root), *args])


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_training_set_holds_the_consented_photographs_and_their_manifest(tiny_project):
    write_dataset(tiny_project)
    result = run(tiny_project, "dataset", "faces")
    assert result.exit_code == 0, result.output
    assert "2 images in 10_rcnface/" in result.output
    assert "left out datasets/photos/rose.png: consent is 'pending' for Minh" in result.output
    folder = tiny_project / "renders" / "datasets" / "faces"
    manifest = json.loads((folder / "dataset.json").read_text())
    images = sorted((folder / "10_rcnface").glob("*.png"))
    assert len(images) == 2 and len(list((folder / "10_rcnface").glob("*.txt"))) == 2
    by_file = {entry["file"]: entry for entry in manifest["images"]}
    for image in images:
        entry = by_file[f"10_rcnface/{image.name}"]
        assert entry["sha256"] == sha256(image)
        assert image.with_suffix(".txt").read_text() == entry["caption"] + "\n"
        assert image.stem == entry["photo_sha256"][:16] and entry["consent"] == "granted"
        assert sha256(tiny_project / entry["source"]) == entry["photo_sha256"]
        with Image.open(image) as decoded:
            assert not decoded.getexif() and decoded.size[0] <= 1024
    assert {(e["contributor"], e["credit"], e["caption"]) for e in manifest["images"]} == {
        ("Amina", "The A. family", "rcnface, a portrait in a courtyard"), ("Lan", "Lan", "rcnface, jasmine on a wall")}
    body = {k: v for k, v in manifest.items() if k != "sha256"}
    assert manifest["sha256"] == hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                                           ensure_ascii=False).encode()).hexdigest()
    toolkit = yaml.safe_load((folder / "ai-toolkit.yaml").read_text())
    assert toolkit["datasets"][0]["folder_path"] == str(folder.resolve() / "10_rcnface")
    assert toolkit["trigger_word"] == "rcnface" and toolkit["datasets"][0]["caption_ext"] == "txt"


def test_the_kohya_dataset_config_reads_back_as_toml(tiny_project):
    tomllib = pytest.importorskip("tomllib")  # the standard library's TOML reader, Python 3.11+
    write_dataset(tiny_project)
    assert run(tiny_project, "dataset", "faces").exit_code == 0
    folder = tiny_project / "renders" / "datasets" / "faces"
    kohya = tomllib.loads((folder / "kohya.toml").read_text())
    assert kohya["general"]["caption_extension"] == ".txt"
    assert kohya["datasets"][0]["subsets"][0] == {"image_dir": str(folder.resolve() / "10_rcnface"), "num_repeats": 10}


def test_a_caption_naming_a_person_is_refused_unless_they_chose_it(tiny_project):
    write_dataset(tiny_project, text=DATASET.replace("a portrait in a courtyard", "Amina in a courtyard")
                  .replace("jasmine on a wall", "jasmine Bao grew"))
    result = run(tiny_project, "dataset", "faces")
    assert result.exit_code == 2
    assert "datasets/faces.yaml:5: images.0.caption: the caption names Amina" in result.output
    assert "datasets/faces.yaml:9: images.1.caption: the caption names Bao" in result.output
    assert not (tiny_project / "renders" / "datasets").exists()
    # Amina's own photograph may carry her name once its source: says she chose it; Bao's name stays refused
    shot = tiny_project / "shots" / "s010.yaml"
    shot.write_text(shot.read_text().replace("credit: The A. family}", "credit: The A. family, name_in_captions: true}"))
    result = run(tiny_project, "dataset", "faces")
    assert result.exit_code == 2 and "names Amina" not in result.output and "names Bao" in result.output


@pytest.mark.parametrize("text, field, message", [
    ("concept: a b\nimages: [{shot: s010}]\n", "concept", "should match pattern"),
    ("concept: x\nimages: [{shot: s999}]\n", "images.0.shot", "no shot file"),
    ("concept: x\nimages: [{photo: ../../etc/passwd, contributor: X, consent: granted}]\n", "images.0.photo",
     "leaves the project"),
    ("concept: x\nimages: [{photo: photos/jasmine.png}]\n", "images.0", "needs contributor: and consent:"),
    ("concept: x\nimages: [{shot: s010, consent: granted}]\n", "images.0", "write them there"),
    ("concept: x\nrepeats: 0\nimages: [{shot: s010}]\n", "repeats", "greater than or equal to 1"),
])
def test_a_bad_dataset_file_is_refused_at_its_field(tiny_project, text, field, message):
    write_dataset(tiny_project, text=text)
    result = run(tiny_project, "dataset", "faces")
    assert result.exit_code == 2, result.output
    assert "datasets/faces.yaml:" in result.output and f": {field}: " in result.output and message in result.output
    validated = run(tiny_project, "validate")  # racines validate reads the training sets too
    assert validated.exit_code == 2 and f": {field}: " in validated.output


def test_a_lora_header_is_read_alone_and_a_damaged_one_refused(tmp_path):
    lora = tmp_path / "petals.safetensors"
    save_file({"b": torch.ones(3), "a": torch.arange(4.0)}, str(lora), metadata={
        "ss_tag_frequency": json.dumps({"10_rcnface": {"amina": 2, "jasmine": 1}}), "format": "pt"})
    identity = tensor_sha256(lora)
    manifest = {"name": "faces", "images": [{"contributor": "Amina", "credit": "The A. family", "photo_sha256": "0" * 64}]}
    assert stamp(lora, manifest, "faces") == identity == tensor_sha256(lora)
    assert lora_dataset(lora).contributors() == ["The A. family"] and lora_dataset(lora).found_in == "header"
    assert leaks(metadata(lora), ["Amina", "Bao"]) == ["ss_tag_frequency carries Amina"]
    # a manifest edited by hand no longer matches its digest
    length, header = read_header(lora)
    header["__metadata__"]["racines.dataset_manifest"] = header["__metadata__"]["racines.dataset_manifest"].replace(
        "Amina", "Someone")
    raw = json.dumps(header).encode()
    lora.write_bytes(struct.pack("<Q", len(raw)) + raw + lora.read_bytes()[8 + length:])
    with pytest.raises(LoraUnreadable, match="does not match racines.dataset_sha256"):
        lora_dataset(lora)
    # a header declared larger than safetensors allows is refused unread; a file without one too
    (tmp_path / "huge.safetensors").write_bytes(struct.pack("<Q", 100_000_001) + b"{}")
    with pytest.raises(LoraUnreadable, match="huge.safetensors: the header declares 100000001 bytes"):
        read_header(tmp_path / "huge.safetensors")
    (tmp_path / "short.safetensors").write_bytes(b"abc")
    with pytest.raises(LoraUnreadable, match="short.safetensors: not a safetensors file"):
        read_header(tmp_path / "short.safetensors")
    # kept beside instead: lora.dataset.json
    plain = tmp_path / "plain.safetensors"
    save_file({"a": torch.zeros(2)}, str(plain))
    assert lora_dataset(plain) is None
    beside(plain).write_text(json.dumps(manifest))
    assert lora_dataset(plain).name == "faces" and lora_dataset(plain).found_in.endswith("plain.dataset.json")


def tiny_lora(path):
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from racines.generators.diffusion import tiny

    pipe = tiny.sd()
    torch.manual_seed(3)
    pipe.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    type(pipe).save_lora_weights(path.parent, weight_name=path.name,
                                 unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet)))
    return path


def test_a_withdrawal_reaches_the_lora_and_its_takes_and_nothing_else(tmp_path, tiny_hub):
    root = write_diffusion_project(tmp_path / "film", SHOTS)
    write_dataset(root)
    lora = tiny_lora(root / "loras" / "faces.safetensors")
    assert run(root, "dataset", "faces").exit_code == 0
    # the manifest stamped into the header: tensors byte for byte, read back by safetensors itself
    tensors_before, data_before, file_before = load_file(str(lora)), tensor_sha256(lora), sha256(lora)
    result = run(root, "dataset", "stamp", "faces", str(lora))
    assert result.exit_code == 0, result.output
    assert sha256(lora) != file_before and tensor_sha256(lora) == data_before
    with safe_open(str(lora), framework="pt") as reader:
        meta = reader.metadata()
    manifest = json.loads((root / "renders" / "datasets" / "faces" / "dataset.json").read_text())
    assert json.loads(meta["racines.dataset_manifest"]) == manifest and meta["racines.dataset"] == "faces"
    assert meta["racines.dataset_sha256"] == hashlib.sha256(meta["racines.dataset_manifest"].encode()).hexdigest()
    assert "lora_adapter_metadata" in meta or "format" in meta  # what diffusers wrote is kept
    after = load_file(str(lora))
    assert after.keys() == tensors_before.keys() and all(torch.equal(after[k], tensors_before[k]) for k in after)
    assert read_header(lora)[0] % 8 == 0  # the tensors stay 8-byte aligned

    result = run(root, "render", "--profile", "final", "--no-master")
    assert result.exit_code == 0, result.output
    store = TakeStore(root)
    assert [t.version for t in store.takes("s020")] == ["v001"]

    shown = run(root, "provenance", "s020", "--profile", "final").output
    assert (f"lora         ../loras/faces.safetensors tensors sha256 {data_before[:16]}... (dataset 'faces', learned "
            "from photographs by The A. family, Lan)") in shown

    # the credits name whose photographs the LoRA learned from
    film = load(root, "final")
    lines = derived_for(film, store, film.shots["s040"])
    at = lines.index(["head", "The model 'faces' learned from photographs by"])
    assert lines[at + 1:at + 3] == [["body", "The A. family"], ["body", "Lan"]]

    # a metadata edit alone (here by safetensors' own writer) leaves the takes made with the LoRA up to date
    save_file(load_file(str(lora)), str(lora), metadata={**meta, "modelspec.title": "faces, first training"})
    assert tensor_sha256(lora) == data_before and sha256(lora) != file_before
    status = run(root, "status", "--profile", "final")
    assert status.exit_code == 0 and "4 up to date" in status.output, status.output

    # Lan withdraws: validation names the LoRA, the contributor, the dataset and the takes made with it
    renders_before = tree_digest(root / "renders" / "takes")
    edl_before = tree_digest(root / "edl")
    write_dataset(root, lan="withdrawn")
    result = run(root, "validate", "--profile", "final")
    assert result.exit_code == 0, result.output
    assert ("note: LoRA loras/faces.safetensors (dataset 'faces') learned from a photograph of Lan "
            "(datasets/photos/jasmine.png), whose consent is now 'withdrawn': shots naming it, not renderable: s020; "
            "takes made with it: s020 v001") in result.output

    # the render refuses, naming LoRA, contributor and dataset, and writes nothing
    result = run(root, "render", "--profile", "final", "--no-master")
    assert result.exit_code == 2
    assert "shots/s020.yaml: shot s020: LoRA loras/faces.safetensors (dataset 'faces') learned from a photograph " \
           "of Lan" in result.output
    assert tree_digest(root / "renders" / "takes") == renders_before and tree_digest(root / "edl") == edl_before

    # status says whose consent and which dataset
    status = run(root, "status", "--why", "--profile", "final")
    assert "s020" in status.output and "unconsented" in status.output
    assert "dataset 'faces'" in status.output and "of Lan" in status.output

    # --skip-unconsented: the other shots render, no take is deleted, the LoRA's credit leaves the card
    result = run(root, "render", "--profile", "final", "--no-master", "--skip-unconsented")
    assert result.exit_code == 0, result.output
    assert "skipped s020: LoRA loras/faces.safetensors" in result.output
    after = tree_digest(root / "renders" / "takes")
    for name, digest in renders_before.items():
        assert after[name] == digest, name  # every take kept as it was, s020's included
    film = load(root, "final")
    assert not any("learned from" in text for _, text in derived_for(film, TakeStore(root), film.shots["s040"]))

    # a photograph taken out of the project altogether can no longer be checked: validation says so
    (root / "datasets" / "faces.yaml").write_text(DATASET.split("  - photo: photos/jasmine.png")[0])
    (root / "datasets" / "photos" / "jasmine.png").unlink()
    result = run(root, "validate", "--profile", "final")
    assert "note: LoRA loras/faces.safetensors learned from 1 photograph the project no longer holds" in result.output
