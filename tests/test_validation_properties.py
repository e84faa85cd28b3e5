"""Whatever a shot file holds, loading either succeeds or reports problems: it never crashes."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racines.errors import ValidationFailed
from racines.film.loader import load_film
from tests.conftest import TINY_SHOTS, write_tiny_project

KEYS = ["source", "duration", "generator", "transition", "notes", "photo", "contributor", "consent", "kind",
        "seed", "prompt", "target", "start", "end", "zoom", "x", "y", "dissolve", "hold_start", "easing", "fit"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["cut", "5s", "-1s", "still", "kenburns", "morph",
                                                           "credits", "granted", "photos/grid.png", "../x.png"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
                      max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_any_shot_file_loads_or_reports(tmp_path_factory, document):
    root = write_tiny_project(tmp_path_factory.mktemp("fuzz"), dict(TINY_SHOTS, s030=yaml.safe_dump(document)))
    try:
        film = load_film(root)
    except ValidationFailed as failure:
        assert failure.problems and all(p.file.startswith("shots/") for p in failure.problems)
    else:
        assert film.shots["s030"].frames >= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("abc:{}[]-#'\" \n\t5s")), max_size=60))
def test_any_text_loads_or_reports(tmp_path_factory, text):
    root = write_tiny_project(tmp_path_factory.mktemp("fuzz"), dict(TINY_SHOTS, s030=text))
    try:
        load_film(root)
    except ValidationFailed as failure:
        assert failure.problems
