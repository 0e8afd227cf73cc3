"""The config file's JSON Schema, for editors, ``yaml-language-server`` and the README."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from bot.config.models import Config, _Model
from bot.duration import DURATION_PATTERN, format_duration

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# ------------------------------------------------------------------------------- JSON Schema


class _SchemaGenerator(GenerateJsonSchema):
    """Show duration defaults the way the file spells them (``"15m"``, not ``900``)."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        default = json_schema.get("default")
        if (
            json_schema.get("pattern") == DURATION_PATTERN
            and isinstance(default, int | float)
            and not isinstance(default, bool)
        ):
            json_schema["default"] = format_duration(default)
        return json_schema


def _models(base: type[_Model] = _Model) -> list[type[_Model]]:
    out: list[type[_Model]] = []
    for cls in base.__subclasses__():
        out += [cls, *_models(cls)]
    return out


_described = False


def _describe() -> None:
    """Attribute docstrings → field descriptions, once per process (the models skip them at
    import: see ``_Model``); nested models first, so the ones holding them see the change."""
    global _described
    if _described:
        return
    from pydantic._internal._docs_extraction import extract_docstrings_from_cls

    models = _models()
    for cls in models:
        docs = extract_docstrings_from_cls(cls, use_inspect=True)
        for name, info in cls.model_fields.items():
            if info.description is None and name in docs:
                info.description = docs[name]
    for cls in sorted(models, key=lambda c: c is Config):
        cls.model_rebuild(force=True)
    _described = True


def config_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the config file, for editors and ``yaml-language-server``.

    Durations are strings with a pattern; keys appear as written in the file (``json``, not
    ``json_body``).
    """
    _describe()
    schema = Config.model_json_schema(by_alias=True, schema_generator=_SchemaGenerator)
    schema["patternProperties"] = {"^x-": {"description": "Ignored: a place for YAML anchors."}}
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "Golden Path Bot configuration (.github/golden-path.yml)",
        **{key: value for key, value in schema.items() if key != "title"},
    }
