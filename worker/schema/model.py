"""Pydantic models of an ``ExtensionDatabaseSchema`` document (``seeds/003``).

Keys are camelCase in JSON (``pluginId``, ``sourceField``, ``uniqueConstraints`` …) and
snake_case in Python; unknown keys are refused. The structural rules live here (and so in the
published JSON Schema); the rules that need the whole document live in ``validate.py``.

A field's ``type`` is one of the scalar types or the name of an enum declared in the same
document's ``enums`` (that is how a field uses an enum).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, WithJsonSchema
from pydantic.alias_generators import to_camel

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
"""Tables, fields, enums, indexes: snake_case, 1-63 bytes (PostgreSQL's identifier limit)."""
ENUM_VALUE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"
"""Enum values must be identifiers so Prisma can declare them."""
PLUGIN_ID_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,49}$"
MAX_TABLES = 500
MAX_FIELDS_PER_TABLE = 1500
MAX_INDEX_FIELDS = 16  # MySQL's key-part limit
MAX_INDEXES_PER_TABLE = 60  # below MySQL's 64 indexes per table
MAX_ENUMS = 500
MAX_ENUM_VALUES = 1000
MAX_RELATIONSHIPS = 1000

ScalarType = Literal["String", "Int", "Float", "Boolean", "DateTime", "Decimal", "Json"]
SCALAR_TYPES: tuple[str, ...] = get_args(ScalarType)
RelationshipType = Literal["OneToOne", "OneToMany", "ManyToMany"]


def _field_type(value: str) -> str:
    if value in SCALAR_TYPES or re.fullmatch(NAME_PATTERN, value):
        return value
    allowed = ", ".join(SCALAR_TYPES)
    raise ValueError(
        f"unknown type {value!r}; use one of {allowed} or the name of an enum declared in enums"
    )


FieldType = Annotated[
    str,
    AfterValidator(_field_type),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": list(SCALAR_TYPES)},
                {"type": "string", "pattern": NAME_PATTERN, "description": "an enum's name"},
            ]
        }
    ),
]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
FieldList = Annotated[list[Name], Field(min_length=1, max_length=MAX_INDEX_FIELDS)]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
    )


class FieldValidation(_Strict):
    """Value rules of a field; lengths for String, bounds for Int, Float and Decimal."""

    min_length: int | None = Field(default=None, ge=0, le=10_485_760)
    max_length: int | None = Field(default=None, ge=1, le=10_485_760)
    min: float | None = None
    max: float | None = None
    pattern: str | None = Field(default=None, max_length=1000)


class ExtensionField(_Strict):
    """One column; a declared ``id`` is the primary key (else the platform adds one)."""

    name: Name
    type: FieldType
    required: bool
    default: JsonValue = None
    validation: FieldValidation | None = None


class ExtensionIndex(_Strict):
    """An index over one or more fields (``id`` included)."""

    name: Name | None = None
    fields: FieldList
    unique: bool = False


class ExtensionUniqueConstraint(_Strict):
    """A unique constraint over one or more fields."""

    name: Name | None = None
    fields: FieldList


class ExtensionTable(_Strict):
    """A table; stored ``name`` carries the plugin prefix, ``namespace`` is the plugin's."""

    name: Name
    namespace: Name
    fields: list[ExtensionField] = Field(max_length=MAX_FIELDS_PER_TABLE)
    indexes: list[ExtensionIndex] = Field(default_factory=list, max_length=MAX_INDEXES_PER_TABLE)
    unique_constraints: list[ExtensionUniqueConstraint] = Field(
        default_factory=list, max_length=MAX_INDEXES_PER_TABLE
    )


class ExtensionEnum(_Strict):
    """A named set of values; a field uses it by naming it as its ``type``."""

    name: Name
    values: list[Annotated[str, Field(pattern=ENUM_VALUE_PATTERN)]] = Field(
        min_length=1, max_length=MAX_ENUM_VALUES
    )
    localization: dict[str, dict[str, str]] | None = None


class ExtensionRelationship(_Strict):
    """A link from ``source.sourceField`` to ``target.targetField``."""

    source: Name
    source_field: Name
    target: Name
    target_field: Name
    type: RelationshipType


class SchemaMetadata(_Strict):
    """Descriptive data; ``namespace`` must be the plugin namespace."""

    description: str | None = Field(default=None, max_length=10_000)
    author: str | None = Field(default=None, max_length=500)
    namespace: Name
    constraints: dict[str, JsonValue] | None = None


class ExtensionDatabaseSchema(_Strict):
    """A plugin's declarative database schema."""

    plugin_id: Annotated[str, Field(pattern=PLUGIN_ID_PATTERN)]
    version: Annotated[str, Field(pattern=VERSION_PATTERN)]
    tables: list[ExtensionTable] = Field(max_length=MAX_TABLES)
    enums: list[ExtensionEnum] = Field(max_length=MAX_ENUMS)
    relationships: list[ExtensionRelationship] = Field(max_length=MAX_RELATIONSHIPS)
    metadata: SchemaMetadata

    def table(self, name: str) -> ExtensionTable | None:
        """The table called ``name``, if declared."""
        return next((t for t in self.tables if t.name == name), None)

    def enum(self, name: str) -> ExtensionEnum | None:
        """The enum called ``name``, if declared."""
        return next((e for e in self.enums if e.name == name), None)


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of an ``ExtensionDatabaseSchema`` document."""
    return ExtensionDatabaseSchema.model_json_schema(by_alias=True)
