"""The JSON Schemas in ``schemas/``: the one definition of every request body.

They validate bodies here and are assembled into the OpenAPI document
(:mod:`maas.http.openapi`). Every error found is reported, each naming its field as a dotted
path (``origin.lon``, ``recurrence.weekdays.1``).

Bodies are first checked by ``jsonschema_rs`` (compiled, about 40 times faster than walking the
schema in Python, which cost a third of a ride request's CPU time); only a body it refuses is
validated again by ``jsonschema``, which lists the errors. Where the two disagree, ``jsonschema``
decides, so the fast check may only ever be stricter (a test compares them).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from maas.errors import InputError
from maas.settings import PROJECT_DIR

SCHEMA_DIR = PROJECT_DIR / "schemas"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    date.fromisoformat(value)
    return len(value) == 10


def _is_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    time.fromisoformat(value)
    return re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value) is not None


def _is_uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


def format_checker() -> FormatChecker:
    """``date-time`` as RFC 3339 *with* an offset; ``date``; ``time`` as local HH:MM[:SS]."""
    checker = FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    checker.checks("date", raises=ValueError)(_is_date)
    checker.checks("time", raises=ValueError)(_is_time)
    checker.checks("uuid", raises=ValueError)(_is_uuid)
    return checker


def _fast_format(check: Any) -> Any:
    """A format check for ``jsonschema_rs``: True or False instead of raising."""

    def fast(value: str) -> bool:
        try:
            return bool(check(value))
        except ValueError:
            return False

    return fast


FAST_FORMATS = {
    "date-time": _fast_format(_is_date_time),
    "date": _fast_format(_is_date),
    "time": _fast_format(_is_time),
    "uuid": _fast_format(_is_uuid),
}


def error_field(error: ValidationError) -> str:
    """The dotted path of the offending field; for a missing or unknown property, that
    property."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.message, str):
        match = re.match(r"'([^']+)' is a required property", error.message)
        if match:
            path.append(match.group(1))
    elif error.validator in ("additionalProperties", "unevaluatedProperties"):
        match = re.search(r"\('([^']+)'", error.message)
        if match:
            path.append(match.group(1))
    elif error.validator == "dependentRequired":
        match = re.match(r"'([^']+)' is a dependency", error.message)
        if match:
            path.append(match.group(1))
    return ".".join(path) or "body"


@dataclass
class SchemaRegistry:
    """Every ``*.json`` body schema of a directory, by file name without ``.json``, and the
    response schemas of its ``responses/`` directory."""

    directory: Path = SCHEMA_DIR
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What the API answers (``schemas/responses/``): documentation, and checked by tests."""
    _validators: dict[str, Draft202012Validator] = field(default_factory=dict)
    _fast: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path in sorted((self.directory / "responses").glob("*.json")):
            schema = json.loads(path.read_text())
            Draft202012Validator.check_schema(schema)
            self.responses[path.stem] = schema
        checker = format_checker()
        for path in sorted(self.directory.glob("*.json")):
            if path.name == "openapi.json":
                continue
            schema = json.loads(path.read_text())
            Draft202012Validator.check_schema(schema)
            self.schemas[path.stem] = schema
            self._validators[path.stem] = Draft202012Validator(schema, format_checker=checker)
            self._fast[path.stem] = jsonschema_rs.validator_for(
                schema, formats=FAST_FORMATS, validate_formats=True
            )

    def validate(self, name: str, body: Any) -> None:
        """Raise one :class:`InputError` listing every problem, the first one as ``field``."""
        if self._fast[name].is_valid(body):
            return
        errors = sorted(
            self._validators[name].iter_errors(body),
            key=lambda e: (error_field(e), str(e.message)),
        )
        if not errors:
            return
        listed = [{"field": error_field(e), "detail": _message(e)} for e in errors]
        first = listed[0]
        raise InputError(first["field"], first["detail"], errors=listed)


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return "is not a known field"
    if error.validator == "required":
        return "is required"
    if error.validator == "oneOf":
        return (
            "must be either {lon, lat} or {meeting_point_id}"
            if _is_place(error)
            else ("matches none or several of the allowed forms")
        )
    if error.validator == "format":
        return f"is not a valid {error.validator_value}"
    message = str(error.message)
    return message if len(message) <= 200 else message[:197] + "..."


def _is_place(error: ValidationError) -> bool:
    return any("meeting_point_id" in json.dumps(s) for s in error.validator_value or [])
