"""Property-based fuzzing of what racines reads from people: the shot-file loader and the
readers of editors' cuts (EDL, FCP 7 XML, OTIO). For any input: no exception but the project's
own (ValidationFailed, UsageError), no hang (each example under a deadline, and interrupted past
a bound), and no file written."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from racines.edit.conform import CutEvent, read_cut
from racines.errors import UsageError, ValidationFailed
from racines.film.loader import load_film
from tests.conftest import TINY_FILM, TINY_SHOTS, tree_digest, write_tiny_project
from tests.hostile.cases import GOOD_EDL, otio_cut
from tests.test_hostile import deadline

FUZZ = settings(max_examples=100, deadline=3000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
INTERRUPT_S = 20


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = write_tiny_project(tmp_path_factory.mktemp("fuzz") / "film")
    load_film(root)  # the photographs' decode cache, so that a load that passes writes nothing
    return root


def whole(root: Path) -> dict[str, str]:
    return tree_digest(root)


# --- shot files, film.yaml, models.yaml --------------------------------------------------------

KEYS = ["source", "photo", "contributor", "consent", "credit", "duration", "generator", "kind", "prompt", "seed",
        "start", "end", "x", "y", "zoom", "target", "easing", "hold_start", "transition", "dissolve", "trim", "head",
        "tail", "final", "model", "profile", "notes", "title", "frame_rate", "resolution", "timecode_start", "cut",
        "handles", "models", "path", "repo", "revision", "heading", "extra_lines"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["still", "kenburns", "morph", "credits", "svd", "granted", "cut", "5s", "0.5s", "24000/1001",
                     "01:00:00:00", "25:00:00:00", "01:00:00;00", "256x144", "photos/grid.png", "../x.png",
                     "/etc/passwd", "photos/\0.png", "s010", "s 0", "draft", "final", "a" * 300]),
    st.text(max_size=40),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
                      max_leaves=20)
DOCUMENTS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8).map(
    lambda data: yaml.safe_dump(data, allow_unicode=True))
TOKENS = ["duration: ", "generator: ", "{kind: still}", "source: ", "{photo: photos/grid.png, contributor: A, ",
          "consent: granted}", "transition: {dissolve: ", "}", "{", "[", "]", ",", ":", "- ", "\n", "  ", "\t",
          "&a ", "*a", "&b [*a, *a, *a]", "!!binary ", "!!python/object ", "'", '"', "\\0", "\\x1b", "12", "-1",
          "1e999", "2001-02-31", "9" * 30, "0x1F", "~", "null", "? ", "---\n", "...\n", "%YAML 1.1\n", "#", "\ufeff"]
RAW = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
TARGETS = {"shots/s030.yaml": TINY_SHOTS["s030"], "shots/film.yaml": TINY_FILM, "models.yaml": None}
VALID = {"shots/s030.yaml": yaml.safe_load(TINY_SHOTS["s010"]), "shots/film.yaml": yaml.safe_load(TINY_FILM),
         "models.yaml": {"models": {"ours": {"path": "models/ours", "licence": "cc0"}, "hub": {"repo": "a/b"}}}}


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated(draw, target: str) -> str:
    """A valid file with one to three values replaced (most inputs then pass YAML and reach the checks)."""
    document = json.loads(json.dumps(VALID[target]))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(document) if p] or [("x",)]))
        node = document
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = draw(VALUES)
    return yaml.safe_dump(document, allow_unicode=True)


@FUZZ
@given(data=st.data(), target=st.sampled_from(sorted(TARGETS)))
def test_any_shot_file_loads_or_is_refused_without_a_write(project, data, target):
    text = data.draw(st.one_of(mutated(target), DOCUMENTS, RAW, st.text(max_size=200)))
    path = project / target
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = whole(project)
    try:
        with deadline(INTERRUPT_S):
            load_film(project)
        event("loaded")
    except ValidationFailed as exc:
        event("refused")
        assert exc.problems and all(p.file for p in exc.problems)
        assert len(str(exc)) < 50_000
    finally:
        after = whole(project)
        original = TARGETS[target]
        if original is None:
            path.unlink()
        else:
            path.write_text(original, encoding="utf-8")
    assert after == before


# --- editors' cuts ----------------------------------------------------------------------------

TIMECODES = st.builds(lambda h, m, s, f, sep: f"{h:02d}:{m:02d}:{s:02d}{sep}{f:02d}", st.integers(0, 99),
                      st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.sampled_from([":", ";", "."]))
EVENT_LINES = st.builds(lambda n, reel, ch, tr, op, tcs: f"{n:03d}  {reel:<8} {ch:<4}  {tr:<4} {op} {' '.join(tcs)}",
                        st.integers(0, 1200), st.sampled_from(["RTEST000", "RTEST001", "AX", "BL", "A005C012", "", "x" * 40]),
                        st.sampled_from(["V", "A", "AA/V", "B", "NONE"]), st.sampled_from(["C", "D", "W001", "K", "KB"]),
                        st.sampled_from(["", "012", "999", "-5"]), st.lists(TIMECODES, min_size=0, max_size=5))
EDL_LINES = st.one_of(EVENT_LINES, st.sampled_from(["TITLE: X", "FCM: DROP FRAME", "FCM: NON-DROP FRAME",
                                                    "* FROM CLIP NAME:  s010_v001", "* LOC: 01:00:00:00 RED x",
                                                    "M2   RTEST000       048.0                00:00:00:08",
                                                    "* TO CLIP NAME: \x1b[2J", "", "SPLIT: VIDEO DELAY= 00:00:00:01"]),
                      st.text(max_size=60))
EDLS = st.one_of(st.lists(EDL_LINES, max_size=30).map("\n".join),
                 st.lists(st.integers(0, GOOD_EDL.count("\n")), max_size=3).map(
                     lambda drop: "\n".join(line for i, line in enumerate(GOOD_EDL.splitlines()) if i not in drop)))

XML_TAGS = ["xmeml", "sequence", "media", "video", "track", "clipitem", "transitionitem", "name", "start", "end", "in",
            "out", "file", "pathurl", "rate", "timebase", "ntsc", "duration", "timecode", "reel", "alignment", "effect"]


def xml_tree(depth: int = 4) -> st.SearchStrategy[ET.Element]:
    leaf = st.builds(lambda tag, text: _element(tag, text, []), st.sampled_from(XML_TAGS),
                     st.one_of(st.none(), st.integers(-100, 100).map(str), st.text(max_size=12)))
    if depth == 0:
        return leaf
    return st.one_of(leaf, st.builds(lambda tag, children: _element(tag, None, children), st.sampled_from(XML_TAGS),
                                     st.lists(xml_tree(depth - 1), max_size=4)))


def _element(tag: str, text: str | None, children: list[ET.Element]) -> ET.Element:
    element = ET.Element(tag, {"id": tag} if tag in ("clipitem", "file") else {})
    element.text = "".join(c for c in text if c.isprintable()) if text else None
    element.extend(children)
    return element


XMLS = st.builds(lambda seq: '<?xml version="1.0"?>' + ET.tostring(_element("xmeml", None, [seq]), "unicode"),
                 xml_tree())

JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                                     st.text(max_size=10)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=10)
VALID_OTIO = json.loads(otio_cut([("s010", 8, 24, 6), ("s020", 8, 24, 0), ("s030", 8, 12, 0)]))


OTIO_PATHS = [p for p in _paths(VALID_OTIO) if p]


@st.composite
def mutated_otio(draw) -> str:
    document = json.loads(json.dumps(VALID_OTIO))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(OTIO_PATHS))
        node = document
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = draw(JSON_VALUES)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation took this branch away
    return json.dumps(document)


CUTS = st.one_of(st.tuples(st.just(".edl"), EDLS), st.tuples(st.just(".xml"), XMLS),
                 st.tuples(st.just(".otio"), st.one_of(mutated_otio(), JSON_VALUES.map(json.dumps))))


@FUZZ
@given(cut=CUTS, rate=st.sampled_from([Fraction(24), Fraction(25), Fraction(30000, 1001)]))
def test_any_cut_is_read_or_refused_without_a_write(tmp_path_factory, cut, rate):
    suffix, text = cut
    folder = tmp_path_factory.mktemp("cut")
    path = folder / f"edited{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = whole(folder)
    try:
        with deadline(INTERRUPT_S):
            events = read_cut(path, rate)
    except UsageError as exc:
        event(f"{suffix} refused")
        assert str(path) in str(exc) and len(str(exc)) < 5000
    else:
        event(f"{suffix} read")
        assert all(isinstance(event, CutEvent) and event.used_out >= event.used_in for event in events)
    assert whole(folder) == before
