"""A take's manifest: how the take was made, as a typed and versioned model.

``manifest.json`` is written from :class:`TakeManifest` and read back through it; a folder
whose manifest does not validate is not a usable take. ``schema_version`` counts the format's
changes. Manifests written before the field existed (they said ``"schema": "racines.take/1"``,
or nothing at all) read as version 1, their missing fields filled with what their absence
meant then: no handles, the draft profile.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 2
LEGACY_VERSION = 1  # the manifests without a schema_version field


class _Record(BaseModel):
    # a take is immutable; and fields that a later racines adds are kept, not dropped, on reading
    model_config = ConfigDict(extra="allow", frozen=True)


class SourceRecord(_Record):
    photo: str
    sha256: str
    contributor: str
    consent: str
    credit: str = ""


class FilmRecord(_Record):
    title: str = ""
    frame_rate: str
    width: int
    height: int


class AssetRecord(_Record):
    path: str
    sha256: str


class GeneratorRecord(_Record):
    name: str = ""
    version: str = ""
    models: list[str] = Field(default_factory=list)
    description: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)


class MediaRecord(_Record):
    editorial: str
    lossless: str
    reel: str
    thumbnail: str = "thumbnail.jpg"
    contact_sheet: str = "contact.jpg"
    timecode_start: str = "00:00:00:00"
    codec: str = ""
    artefacts: list[str] = Field(default_factory=list)  # pictures kept with the take (the X-ray strip)


class TakeManifest(_Record):
    schema_version: int = SCHEMA_VERSION
    shot: str
    take: str
    shot_file: str = ""
    cache_key: str
    cache_inputs: dict[str, Any] = Field(default_factory=dict)  # the named inputs of the key, for status --why
    created: str = ""
    frames: int                     # in the media, handles included
    shot_frames: int                # in the shot, handles left out
    handles: int = 0
    film: FilmRecord | None = None
    source: SourceRecord | None = None
    assets: dict[str, AssetRecord] = Field(default_factory=dict)
    profile: str = "draft"
    generator: GeneratorRecord = Field(default_factory=GeneratorRecord)
    media: MediaRecord
    software: dict[str, str] = Field(default_factory=dict)
    machine: dict[str, str] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    generation: dict[str, Any] = Field(default_factory=dict)  # what the generator decided at run time
    apparatus: dict[str, Any] = Field(default_factory=dict)   # the chain of models and what the encoders read
    cost: dict[str, Any] = Field(default_factory=dict)        # GPU-seconds and energy, with the method

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        version = data.setdefault("schema_version", LEGACY_VERSION)
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise ValueError(f"schema_version {version} is newer than this racines reads ({SCHEMA_VERSION})")
        if version == LEGACY_VERSION:
            data.pop("schema", None)  # the version's old spelling
            handles = data.setdefault("handles", 0)
            if isinstance(data.get("frames"), int) and isinstance(handles, int):
                data.setdefault("shot_frames", data["frames"] - 2 * handles)
        return data

    @classmethod
    def read(cls, data: object, shot: str, take: str) -> TakeManifest:
        """Validate a manifest as read from a take folder; the folder names its shot and take
        where the manifest does not. Raises ValueError (pydantic's ValidationError is one)."""
        if not isinstance(data, dict):
            raise ValueError("a manifest is a JSON object")
        return cls.model_validate({"shot": shot, "take": take, **data})

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
