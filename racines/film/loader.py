"""Load ``shots/`` into a :class:`Film`, reporting every problem at once.

Validation runs in full before anything expensive: YAML syntax, unknown keys and wrong
types (pydantic), then paths, images, durations, the cut and dissolves. Each problem
names the file, the line where the YAML gives one, the field, the bad value and the fix.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
import yaml
from pydantic import BaseModel, ValidationError

from racines.core.reading import Unreadable, human_bytes, read_limited
from racines.errors import Problem, ValidationFailed
from racines.film.images import DecodedImages, NotAnImage
from racines.film.model import Film, Shot, SourcePhoto
from racines.film.paths import PathRefused, confine, confine_folder, leaves_project, project_relative
from racines.film.recordings import SOUND_FILE, Recordings, film_sound, placement_problems, shot_voices
from racines.film.schema import (
    SHOT_ID_PATTERN,
    SLOTS,
    TIMECODE_PATTERN,
    Dissolve,
    FilmSettings,
    Kinds,
    KindSettings,
    ModelEntry,
    ModelsFile,
    ShotFile,
    SoundFile,
    installed_kinds,
    parse_duration_text,
)

FILM_FILE = "film.yaml"
MODELS_FILE = "models.yaml"  # at the project root, beside shots/

#: a check that knows the generators: (shot, film) -> [(location under the shot file, message, value, fix)]
ShotCheck = Callable[[Shot, Film], list[tuple[tuple, str, Any, str]]]
SMPTE_RATES = (
    Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
    Fraction(48000, 1001), Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60),
)
DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
#: a shot file is a few hundred bytes, film.yaml of a long film a few kB: past these bounds a
#: file is refused before it is parsed, and an alias that expands past MAX_NODES (a "billion
#: laughs" of 1 kB) before anything walks the expansion
MAX_YAML_BYTES = 1_000_000
MAX_NODES = 50_000
MAX_DEPTH = 64
#: the longest shot racines makes (an hour), and timecode's day: bounds a typing slip meets
MAX_SHOT_SECONDS = 3600


class _Collector:
    """Gathers problems for one YAML file, locating them through its parsed node tree."""

    def __init__(self, root: Path, path: Path, problems: list[Problem]):
        self.root = root
        self.file = project_relative(root, path)
        self.node: yaml.Node | None = None
        self.problems = problems

    def add(self, loc: tuple, message: str, fix: str = "", value: Any = ..., line: int | None = None) -> None:
        field = ".".join(str(part) for part in loc)
        self.problems.append(
            Problem(
                file=self.file,
                field=field,
                message=message,
                fix=fix,
                line=line if line is not None else _line_of(self.node, loc),
                value=None if value is ... else value,
                has_value=value is not ...,
            )
        )


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """Follow ``loc`` (keys and list indices) through the YAML node tree to a 1-based line."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    node, line = value, key.start_mark.line + 1
                    break
            # a part that is not a key (a union tag from pydantic) is skipped
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line


def _duplicate_keys(node: yaml.Node, loc: tuple = ()) -> list[tuple[tuple, int]]:
    found = []
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            if key.value in seen:
                found.append(((*loc, key.value), key.start_mark.line + 1))
            seen.add(key.value)
            found += _duplicate_keys(value, (*loc, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicate_keys(item, (*loc, index))
    return found


#: PyYAML's safe loader (plain YAML types only), with libyaml's parser when installed: a film
#: of a hundred shots is read on every command, and the C parser is about ten times faster
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _too_large(node: yaml.Node) -> str | None:
    """What is wrong with a node tree too large or deep for the readers that walk it (duplicate
    keys, line numbers, pydantic, messages): its nodes are counted with aliases expanded, up to
    MAX_NODES, so that a billion laughs costs MAX_NODES steps, not a billion."""
    count, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            return f"the YAML expands to more than {MAX_NODES} values (through its aliases, '*name')"
        if depth > MAX_DEPTH:
            return f"the YAML nests deeper than {MAX_DEPTH} levels"
        if isinstance(current, yaml.MappingNode):
            stack.extend((part, depth + 1) for pair in current.value for part in pair)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in current.value)
    return None


CONSTRUCT_ERRORS = (yaml.YAMLError, ValueError, TypeError, OverflowError)


def _failing_scalar(loader: Any, node: yaml.Node) -> tuple[tuple, yaml.ScalarNode] | None:
    """The first scalar of the tree that YAML cannot turn into a value, and where it sits."""
    stack: list[tuple[yaml.Node, tuple]] = [(node, ())]
    while stack:
        current, loc = stack.pop()
        if isinstance(current, yaml.ScalarNode):
            try:
                loader.construct_object(current, deep=True)
            except CONSTRUCT_ERRORS:
                return loc, current
        elif isinstance(current, yaml.MappingNode):
            for key, value in reversed(current.value):
                stack += [(value, (*loc, key.value)), (key, loc)]
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, (*loc, index)) for index, item in reversed(list(enumerate(current.value))))
    return None


def _read_yaml(path: Path, out: _Collector, texts: Mapping[Path, str] | None = None) -> Any:
    """The file's data (``texts`` stands in for files by path), or None with its problems added."""
    if texts is not None and path in texts:
        text = texts[path]
    elif leaves_project(out.root, path):
        out.add((), "the file is a link to a file outside the project", "copy the file into the project instead")
        return None
    else:
        try:
            raw = read_limited(path, MAX_YAML_BYTES)
        except Unreadable as exc:
            out.add((), str(exc), "a shot file is a short YAML text file: " + exc.fix)
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.add((), f"the file is not UTF-8 text ({exc.reason})", "save it as UTF-8")
            return None
    if len(text) > MAX_YAML_BYTES:
        out.add((), f"the text is longer than the {human_bytes(MAX_YAML_BYTES)} a shot file can be",
                "shorten it")
        return None
    loader = SAFE_LOADER(text)
    try:
        try:
            out.node = loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            reason = getattr(exc, "problem", None) or str(exc)
            out.add((), f"malformed YAML: {reason}", "fix the indentation or quoting near this line",
                    line=mark.line + 1 if mark else None)
            return None
        refused = _too_large(out.node) if out.node is not None else None
        if refused:
            out.add((), refused, "write the values out, without aliases of aliases or deep nesting", line=1)
            out.node = None
            return None
        try:
            data = loader.construct_document(out.node) if out.node is not None else None
        except CONSTRUCT_ERRORS as exc:
            # a date that is no date (2001-02-31), a number of 5,000 digits, a bad !!tag
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            reason = getattr(exc, "problem", None) or str(exc)
            loc, failing = _failing_scalar(loader, out.node) or ((), None)
            out.add(loc, f"a value YAML cannot read: {reason}", "quote the value to make it text, or correct it",
                    value=failing.value if failing is not None else ...,
                    line=failing.start_mark.line + 1 if failing is not None else mark.line + 1 if mark else None)
            out.node = None
            return None
    finally:
        loader.dispose()
    for loc, line in _duplicate_keys(out.node) if out.node is not None else []:
        out.add(loc, "this key appears twice", "keep one of them", line=line)
    if not isinstance(data, dict):
        out.add((), "the file must be a YAML mapping (key: value lines)", value=data)
        return None
    return data


def _fix_for(error: dict, model: type[BaseModel], kinds: Kinds | None) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, error["loc"][:-1])
        return f"remove it or correct its spelling; allowed here: {', '.join(allowed)}" if allowed else \
            "remove it or correct its spelling (racines schema lists the allowed keys)"
    if kind == "missing":
        return f"add '{error['loc'][-1]}:' (racines schema describes it)"
    if kind in ("union_tag_invalid", "union_tag_not_found") and kinds is not None and error["loc"][0] in SLOTS:
        names = ", ".join(kinds.names(error["loc"][0]))
        if kind == "union_tag_invalid":
            return f"set {error['loc'][0]}.kind to one of: {names}"
        return f"add 'kind:' (one of: {names})"
    return TYPE_FIXES.get(kind, "see racines schema for the expected form")


TYPE_FIXES = {
    "int_type": "write a whole number, e.g. 42",
    "int_from_float": "write a whole number, e.g. 42",
    "float_type": "write a number, e.g. 0.5",
    "string_type": "write text (quote it if it looks like a number)",
    "bool_type": "write true or false",
    "list_type": "write a list, e.g. [a, b]",
    "model_type": "write a mapping of 'key: value' lines",
    "dict_type": "write a mapping of 'key: value' lines",
    "literal_error": "use one of the values listed",
    "greater_than_equal": "use a value within the allowed range",
    "less_than_equal": "use a value within the allowed range",
    "greater_than": "use a value within the allowed range",
    "less_than": "use a value within the allowed range",
    "too_short": "give at least one value",
    "too_long": "give fewer values",
    "string_too_long": "shorten it",
    "string_too_short": "write something here, or remove the key",
}


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = _model_in(current.model_fields[part].annotation)
        elif isinstance(current, dict):  # discriminated union: part is the tag
            current = current.get(part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The model (or {tag: model} for a tagged union) inside an annotation, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = [a for a in _flatten(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    if len(models) == 1:
        return models[0]
    if models and all("kind" in m.model_fields for m in models):
        return {typing.get_args(m.model_fields["kind"].annotation)[0]: m for m in models}
    return None


def _flatten(annotation: Any) -> list:
    args = typing.get_args(annotation)
    if not args:
        return [annotation]
    return [leaf for arg in args for leaf in _flatten(arg)]


#: what to write, for fields that accept more than one form
FORM_HINTS = {
    "frame_rate": "use one of 24, 25, 30, 48, 50, 60, '24000/1001', '30000/1001', '48000/1001', '60000/1001' "
                  "(write 23.976 as '24000/1001')",
    "resolution": "give 'WIDTHxHEIGHT' (e.g. 1920x1080) or [1920, 1080]",
    "duration": "give frames (120) or seconds ('5s', '4.5s')",
    "dissolve": "give frames (12) or seconds ('0.5s')",
    "transition": "write 'cut' or {dissolve: 12}",
    "language": "give a language code: fr, ar, vi, or with a region, fr-FR",
    "record_in": "give frames (120), seconds ('5s') or a record timecode ('01:00:05:00')",
    "offset": "give frames (12) or seconds ('0.5s')",
    "revision": "give a commit hash, a branch or a tag: letters, digits, '_', '-', '.' and '/', no '..'",
    "target": "give an image path (flowers/NAME.jpg), or a mapping: {model: NAME, prompt: TEXT} (by prompt), "
              "{kind: inpaint, mask: masks/NAME.png, ...} or {kind: flux2, prompt: TEXT, ...}",
}


def _validate(model: type[BaseModel], data: dict, out: _Collector, kinds: Kinds | None = None) -> BaseModel | None:
    """``kinds``: for a shot file, the installed generators' settings models, which name the
    allowed kinds and may say their own errors in the director's terms."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        groups: dict[tuple, list[dict]] = {}
        for error in exc.errors(include_url=False):
            groups.setdefault(_data_loc(data, error["loc"]), []).append(error)
        for loc, errors in groups.items():
            error = _most_relevant(errors)
            message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            fix = _fix_for(error, model, kinds)
            if len(errors) > 1 or fix.startswith("see racines schema"):
                fix = FORM_HINTS.get(str(loc[-1]) if loc else "", fix)
            block = _block_model(kinds, data, loc)
            explained = block.explain(error, loc[1:]) if block is not None else None
            if explained is not None:
                message, fix = explained
            shows_value = error["type"] not in ("missing", "extra_forbidden")
            out.add(loc, message, fix, value=error.get("input") if shows_value else ...)
        return None


def _block_model(kinds: Kinds | None, data: dict, loc: tuple) -> type[KindSettings] | None:
    """The settings model of the generator block an error is in, from the block's ``kind:``."""
    block = data.get(loc[0]) if kinds is not None and len(loc) > 1 and loc[0] in SLOTS else None
    return kinds.settings.get(block.get("kind")) if isinstance(block, dict) else None


def _data_loc(data: Any, loc: tuple) -> tuple:
    """Keep the parts of a pydantic location that are real keys or indices in the YAML data,
    dropping union member tags such as 'constrained-int' or 'kenburns'."""
    kept, node = [], data
    for position, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            kept.append(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            kept.append(part)
        elif position == len(loc) - 1 and isinstance(node, dict):
            kept.append(part)  # a missing key: still name it
    return tuple(kept)


def _most_relevant(errors: list[dict]) -> dict:
    """Among the errors of a union's branches, the one for the branch the input's type chose."""
    if len(errors) == 1:
        return errors[0]
    value = errors[0].get("input")
    branch = {int: "int", float: "float", str: "str", list: "list", dict: "dict"}.get(type(value), "")
    for error in errors:
        tags = " ".join(str(p) for p in error["loc"])
        if branch and branch in tags and not error["type"].endswith("_type"):
            return error
    return errors[0]


def parse_rate(value: Any) -> Fraction:
    try:
        rate = Fraction(value) if isinstance(value, (int, str)) else None
    except (ValueError, ZeroDivisionError):
        rate = None
    if rate is None or rate not in SMPTE_RATES:
        raise ValueError("not a frame rate with SMPTE timecode")
    return rate


def frames_of(value: int | str, rate: Fraction) -> int:
    """Exact conversion of a duration to frames (seconds are rounded half up to a frame)."""
    if isinstance(value, int):
        return value
    number, unit = parse_duration_text(value)
    if unit == "f":
        if "." in number:
            raise ValueError("a frame count must be a whole number")
        return int(number)
    exact = Fraction(number) * rate
    return math.floor(exact + Fraction(1, 2))


def load_film(root: Path | str, profile: str | None = None, check: ShotCheck | None = None,
              kinds: Kinds | None = None, texts: Mapping[Path, str] | None = None,
              decoded: DecodedImages | None = None) -> Film:
    """Read and check the whole project; raise :class:`ValidationFailed` listing every problem.

    ``profile`` ('draft' or 'final') overrides the film's and the shots' own for this run.
    ``check`` adds the generators' own rules (shapes, models), located like every other problem.
    ``kinds``: the generator kinds shots may name (default: the installed generators').
    ``texts``: YAML texts standing in for the files at those (absolute) paths, so that a command
    about to rewrite shot files can check the result before it replaces any.
    ``decoded``: the photographs known to decode whole (renders/cache/), which the caller saves
    once its command is under way: a refused command writes nothing.
    """
    kinds = kinds or installed_kinds()
    root = Path(root).resolve()
    shots_dir = root / "shots"
    texts = {Path(path): text for path, text in (texts or {}).items()}
    problems: list[Problem] = []
    if not ((shots_dir / FILM_FILE).is_file() or shots_dir / FILM_FILE in texts):
        raise ValidationFailed([Problem(
            file=f"{shots_dir.name}/{FILM_FILE}" if shots_dir.is_dir() else "shots/",
            field="", message=f"no film settings found under {root}",
            fix="run racines from the project folder (the one holding shots/film.yaml) or pass --project DIR",
        )])

    film_out = _Collector(root, shots_dir / FILM_FILE, problems)
    film_data = _read_yaml(shots_dir / FILM_FILE, film_out, texts)
    settings = _validate(FilmSettings, film_data, film_out) if film_data is not None else None
    rate, size, timecode = _film_values(settings, film_out)
    models = _load_models(root, problems, texts)
    film_profile = settings.profile if settings is not None else "draft"

    not_shots = (FILM_FILE, SOUND_FILE)
    shot_files = sorted({p for p in shots_dir.glob("*.yaml") if p.name not in not_shots}
                        | {p for p in texts if p.parent == shots_dir and p.suffix == ".yaml" and p.name not in not_shots})
    shots: dict[str, Shot] = {}
    collectors: dict[str, _Collector] = {}
    images = _Images(root, decoded or DecodedImages(root))
    voices: dict[str, tuple[Path, list]] = {}
    for path in shot_files:
        out = _Collector(root, path, problems)
        shot_id = path.stem
        if not _valid_shot_id(shot_id):
            out.add((), "the file name is not a valid shot id",
                    "rename it with letters, digits, '-' and '_' only (at most 32), e.g. s010.yaml",
                    value=shot_id)
            continue
        data = _read_yaml(path, out, texts)
        parsed = _validate(kinds.shot_file, data, out, kinds) if data is not None else None
        collectors[shot_id] = out
        if parsed is not None and parsed.sound:
            voices[shot_id] = (path, parsed.sound)
        if parsed is not None and rate is not None:
            shot = _resolve_shot(root, path, shot_id, parsed, rate, out,
                                 profile or parsed.profile or film_profile, images)
            if shot is not None:
                shots[shot_id] = shot

    cut: tuple[str, ...] = ()
    if settings is not None:
        cut = tuple(settings.cut)
        for shot in shots.values():
            _check_trim(shot, settings.handles, collectors[shot.id])
        _check_cut(cut, shot_files, shots, collectors, film_out)
    film = None
    if settings is not None and rate is not None and size is not None:
        film = Film(root=root, title=settings.title, rate=rate, width=size[0], height=size[1],
                    timecode_start=timecode, cut=cut, shots=shots, profile=film_profile, models=models,
                    handles=settings.handles, subtitles=settings.subtitles)
        _check_film_end(film, film_out)
        film = _with_sound(film, voices, collectors, problems, texts)
        for shot in shots.values() if check is not None else ():
            for loc, message, value, fix in check(shot, film):
                collectors[shot.id].add(loc, message, fix, value=value)
    if problems:
        raise ValidationFailed(problems)
    return film


def _with_sound(film: Film, voices: dict[str, tuple[Path, list]], collectors: dict[str, _Collector],
                problems: list[Problem], texts: Mapping[Path, str] | None) -> Film:
    """The film with its voices and music (racines.film.recordings): the shot files' sound:
    lists and shots/sound.yaml (optional), each problem located in its file."""
    recordings = Recordings(film.root)
    clips = []
    for shot_id, (path, entries) in voices.items():
        out = collectors[shot_id]
        clips += shot_voices(recordings, path, out.file, shot_id, entries, film.rate, frames_of,
                             lambda loc, message, fix, value, out=out: out.add(loc, message, fix, value=value),
                             lambda loc, out=out: _line_of(out.node, loc))
    path = film.root / "shots" / SOUND_FILE
    ducking = film.ducking
    if path.is_file() or path.is_symlink() or (texts and path in texts):
        out = _Collector(film.root, path, problems)
        data = _read_yaml(path, out, texts)
        parsed = _validate(SoundFile, data, out) if data is not None else None
        if parsed is not None:
            ducking = parsed.ducking
            clips += film_sound(recordings, path, out.file, parsed.voices, parsed.music, film.timecode_start,
                                film.rate, frames_of, lambda loc, message, fix, value: out.add(loc, message, fix,
                                                                                              value=value),
                                lambda loc: _line_of(out.node, loc))
    film = dataclasses.replace(film, sound=tuple(clips), ducking=ducking)
    if all(shot_id in film.shots for shot_id in film.cut):
        for clip, field, message, fix, value in placement_problems(film):
            problems.append(Problem(file=clip.file, field=field, message=message, fix=fix, line=clip.line,
                                    value=value, has_value=True))
    return film


def _load_models(root: Path, problems: list[Problem], texts: Mapping[Path, str] | None = None) -> dict[str, ModelEntry]:
    """The project's models.yaml (optional): names for model folders and Hugging Face repos."""
    path = root / MODELS_FILE
    if not (path.exists() or path.is_symlink() or (texts and path in texts)):
        return {}
    out = _Collector(root, path, problems)
    data = _read_yaml(path, out, texts)
    if data is None:
        return {}
    entries = data.get("models", {})
    if set(data) - {"models"} or not isinstance(entries, dict):
        _validate(ModelsFile, data, out)
        return {}
    models: dict[str, ModelEntry] = {}
    for name, spec in entries.items():  # one entry at a time, so that each reports its own problems
        parsed = _validate(ModelsFile, {"models": {name: spec}}, out)
        models.update(parsed.models if parsed is not None else {})
    for name, entry in models.items():
        if (entry.repo is None) == (entry.path is None):
            out.add(("models", name), "a model needs exactly one of repo: or path:",
                    "write repo: ORG/NAME (with revision:) for the Hugging Face cache, or path: models/NAME",
                    value={k: v for k, v in entry.model_dump().items() if k in ("repo", "path") and v})
        elif entry.path is not None:
            try:
                confine_folder(root, entry.path)
            except PathRefused as exc:
                out.add(("models", name, "path"), str(exc), exc.fix, value=entry.path)
    return models


def _valid_shot_id(text: str) -> bool:
    return re.match(SHOT_ID_PATTERN, text) is not None


def _film_values(settings: FilmSettings | None, out: _Collector):
    if settings is None:
        return None, None, None
    rate = size = timecode = None
    try:
        rate = parse_rate(settings.frame_rate)
    except ValueError:
        out.add(("frame_rate",), "not an exact frame rate with SMPTE timecode", value=settings.frame_rate,
                fix="use one of 24, 25, 30, 48, 50, 60, '24000/1001', '30000/1001', '48000/1001', "
                    "'60000/1001' (write 23.976 as '24000/1001')")
    try:
        size = _parse_resolution(settings.resolution)
    except ValueError as exc:
        out.add(("resolution",), str(exc), "give 'WIDTHxHEIGHT' with even numbers between 64 and 8192, "
                "e.g. 1920x1080", value=settings.resolution)
    if rate is not None:
        timecode = settings.timecode_start
        if ";" in timecode and rate not in DROP_FRAME_RATES:
            out.add(("timecode_start",), "drop-frame timecode (';') exists only at 30000/1001 and 60000/1001",
                    "write the frames separator as ':'", value=timecode)
        elif not _timecode_fields_valid(timecode):
            out.add(("timecode_start",), "not a time of day: hours run 00 to 23, minutes and seconds 00 to 59",
                    "write HH:MM:SS:FF, e.g. 01:00:00:00", value=timecode)
        else:
            try:
                otio.opentime.from_timecode(timecode, float(rate))
            except ValueError as exc:
                out.add(("timecode_start",), f"not a valid timecode at this rate ({exc})",
                        "write HH:MM:SS:FF with FF below the frame rate", value=timecode)
    return rate, size, timecode


def _timecode_fields_valid(timecode: str) -> bool:
    hours, minutes, seconds = (int(part) for part in re.split("[:;]", timecode)[:3])
    return hours < 24 and minutes < 60 and seconds < 60


def _check_film_end(film: Film, out: _Collector) -> None:
    """Timecode counts a day: a film whose last frame would pass 24:00:00:00 wraps in every NLE."""
    if any(shot_id not in film.shots for shot_id in film.cut) or not re.match(TIMECODE_PATTERN, film.timecode_start) \
            or not _timecode_fields_valid(film.timecode_start):
        return  # reported already
    try:
        start = otio.opentime.from_timecode(film.timecode_start, float(film.rate)).value
    except ValueError:
        return
    if start + film.duration() > 24 * 3600 * film.rate:
        out.add(("timecode_start",), f"the film ({film.duration()} frames) would run past 24:00:00:00 "
                "from this start", "start earlier (e.g. 01:00:00:00) or shorten the film", value=film.timecode_start)


def _parse_resolution(value: str | list[int]) -> tuple[int, int]:
    if isinstance(value, str):
        parts = value.lower().replace(" ", "").split("x")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError("not of the form WIDTHxHEIGHT")
        width, height = int(parts[0]), int(parts[1])
    elif len(value) == 2:
        width, height = value
    else:
        raise ValueError("needs exactly two numbers, width and height")
    if not (64 <= width <= 8192 and 64 <= height <= 8192):
        raise ValueError("each side must be between 64 and 8192 pixels")
    if width % 2 or height % 2:
        raise ValueError("both sides must be even (4:2:2 and 4:2:0 video need it)")
    return width, height


def _resolve_shot(root: Path, path: Path, shot_id: str, parsed: ShotFile, rate: Fraction,
                  out: _Collector, profile: str, images: _Images) -> Shot | None:
    ok = True
    frames = frames_of(parsed.duration, rate)
    if frames < 1:
        out.add(("duration",), "a shot must last at least one frame", "give a positive duration such as 5s or 120",
                value=parsed.duration)
        ok = False
    elif frames > MAX_SHOT_SECONDS * rate:
        out.add(("duration",), f"longer than the {MAX_SHOT_SECONDS // 3600} hour a shot can last "
                f"({math.floor(MAX_SHOT_SECONDS * rate)} frames at this rate)",
                "give the shot's length in frames (120) or seconds ('5s'), and split a longer one", value=parsed.duration)
        ok = False

    dissolve = 0
    if isinstance(parsed.transition, Dissolve):
        dissolve = frames_of(parsed.transition.dissolve, rate)
        if dissolve > MAX_SHOT_SECONDS * rate:
            out.add(("transition", "dissolve"), "longer than any shot can be", "shorten the dissolve",
                    value=parsed.transition.dissolve)
            ok = False
        elif dissolve < 1:
            out.add(("transition", "dissolve"), "a dissolve must last at least one frame",
                    "use 'transition: cut' for no dissolve", value=parsed.transition.dissolve)
            ok = False

    source = None
    if parsed.source is not None:
        photo = images.check(path, parsed.source.photo, ("source", "photo"), out)
        if photo is None:
            ok = False
        else:
            source = SourcePhoto(path=photo, relpath=photo.relative_to(root).as_posix(),  # both resolved
                                 contributor=parsed.source.contributor, consent=parsed.source.consent,
                                 credit=parsed.source.credit or parsed.source.contributor,
                                 name_in_captions=parsed.source.name_in_captions)
    elif parsed.generator.photograph:
        out.add(("source",), f"a '{parsed.generator.kind}' shot needs a source photograph",
                "add source: {photo: photos/NAME.jpg, contributor: NAME, consent: granted}")
        ok = False

    assets = _assets(images, path, "generator", parsed.generator, out)
    ok = _kind_rules("generator", parsed.generator, frames, out) and assets is not None and ok
    generator, final, weights = parsed.generator, None, {}
    if parsed.final is not None:
        final = parsed.final.inherit(parsed.generator)
        final_assets = _assets(images, path, "final", final, out)
        weights = _weights(root, path, "final", final, out)
        if not _kind_rules("final", final, frames, out) or final_assets is None or weights is None:
            ok = False
        elif profile == "final":
            generator, assets = final, final_assets
    if not ok:
        return None
    return Shot(id=shot_id, file=out.file, frames=frames, generator=generator, source=source,
                dissolve_frames=dissolve, notes=parsed.notes, assets=assets, profile=profile,
                final=final, weights=weights, trim_head=parsed.trim.head, trim_tail=parsed.trim.tail)


def _check_trim(shot: Shot, handles: int, out: _Collector) -> None:
    for end, value in (("head", shot.trim_head), ("tail", shot.trim_tail)):
        if value < -handles:
            out.add(("trim", end), f"extends {-value} frames beyond the shot, but takes have {handles} frames of "
                    "handle", "lengthen the shot's duration instead, or raise handles in film.yaml", value=value)
    if shot.shown < 1:
        out.add(("trim",), f"the trims leave nothing of this {shot.frames}-frame shot",
                "reduce trim.head and trim.tail", value={"head": shot.trim_head, "tail": shot.trim_tail})


def _assets(images: _Images, path: Path, slot: str, settings: KindSettings, out: _Collector) -> dict[str, Path] | None:
    """The images a block names (:meth:`KindSettings.image_files`), by location ('mask', 'target.mask');
    None when one is not a usable image."""
    found, ok = {}, True
    for loc, text in settings.image_files():  # unset ones, and images a generator makes, are left out
        image = images.check(path, text, (slot, *loc), out)
        if image is None:
            ok = False
        else:
            found[".".join(map(str, loc))] = image
    return found if ok else None


def _kind_rules(slot: str, settings: KindSettings, frames: int, out: _Collector) -> bool:
    """The block's own rules (its kind's ``problems``), located under the block; True when none broke."""
    problems = settings.problems(frames)
    for loc, message, value, fix in problems:
        out.add((slot, *loc), message, fix, value=value)
    return not problems


def _weights(root: Path, path: Path, slot: str, settings: KindSettings, out: _Collector) -> dict[str, Path] | None:
    """The weights files a block names (LoRA adapters), confined to the project, by the path the
    shot file writes; None when one is refused."""
    found, ok = {}, True
    for loc, text in settings.weight_files():
        where = (slot, *loc)
        try:
            weights = confine(root, path.parent, text)
        except PathRefused as exc:
            fix = exc.fix if "photograph" not in exc.fix else \
                "copy the LoRA file into the project (e.g. loras/) and point to it from there"
            out.add(where, str(exc), fix, value=text)
            ok = False
            continue
        if weights.suffix != ".safetensors":
            out.add(where, "LoRA weights must be a .safetensors file (pickle files can run code)",
                    "convert it to safetensors, or use the .safetensors release of this LoRA", value=text)
            ok = False
            continue
        found[text] = weights
    return found if ok else None


class _Images:
    """Each photograph a shot names, confined to the project and opened once per load however
    many shots use it; each shot still reports a problem with it under its own field."""

    def __init__(self, root: Path, decoded: DecodedImages):
        self.root = root
        self.outcomes: dict[tuple[Path, str], tuple[Path | None, tuple[str, str]]] = {}
        self.decoded = decoded

    def check(self, shot_path: Path, text: str, loc: tuple, out: _Collector) -> Path | None:
        key = (shot_path.parent, text)
        if key not in self.outcomes:
            self.outcomes[key] = self._outcome(shot_path.parent, text)
        image, problem = self.outcomes[key]
        if image is None:
            out.add(loc, *problem, value=text)
        return image

    def _outcome(self, folder: Path, text: str) -> tuple[Path | None, tuple[str, str]]:
        try:
            image = confine(self.root, folder, text)
        except PathRefused as exc:
            return None, (str(exc), exc.fix)
        try:
            self.decoded.check(image)
        except NotAnImage as exc:
            return None, (f"not a readable image: {exc}", exc.fix)
        return image, ("", "")


def _check_cut(cut: tuple[str, ...], shot_files: list[Path], shots: dict[str, Shot],
               collectors: dict[str, _Collector], film_out: _Collector) -> None:
    known = {p.stem for p in shot_files}
    seen: set[str] = set()
    for index, shot_id in enumerate(cut):
        if shot_id not in known:
            film_out.add(("cut", index), "no shot file for this id",
                         f"create shots/{shot_id}.yaml or remove the id from the cut", value=shot_id)
        if shot_id in seen:
            film_out.add(("cut", index), "this shot appears twice in the cut", "remove the repeat", value=shot_id)
        seen.add(shot_id)
    for shot, message, fix in dissolve_problems([shots[s] for s in cut if s in shots]):
        collectors[shot.id].add(("transition", "dissolve"), message, fix, value=shot.dissolve_frames)


def dissolve_problems(ordered: list[Shot]) -> list[tuple[Shot, str, str]]:
    """A dissolve overlaps the end of its shot with the start of the next: both must be long enough.

    Returns (shot, message, fix) for each impossible dissolve in this cut order.
    """
    found = []
    for index, shot in enumerate(ordered):
        if not shot.dissolve_frames or shot.shown < 1 or (index + 1 < len(ordered) and ordered[index + 1].shown < 1):
            continue  # a shot its trims leave empty is reported as such
        if index == len(ordered) - 1:
            found.append((shot, "the last shot of the cut has no next shot to dissolve into", "use 'transition: cut'"))
            continue
        following = ordered[index + 1]
        incoming = ordered[index - 1].dissolve_frames if index > 0 else 0
        if incoming + shot.dissolve_frames > shot.shown:
            found.append((shot, f"the dissolves in and out of this {shot.shown}-frame shot need "
                          f"{incoming + shot.dissolve_frames} frames", "shorten the dissolve or lengthen the shot"))
        outgoing_next = following.dissolve_frames if index + 1 < len(ordered) - 1 else 0
        if shot.dissolve_frames + outgoing_next > following.shown:
            found.append((shot, f"the dissolve is longer than what the next shot ({following.id}, "
                          f"{following.shown} frames) can overlap", "shorten the dissolve or lengthen the next shot"))
    return found
