"""Checks of one field: its default and validation rules must fit its type.

Rules by type: String takes ``minLength``/``maxLength``/``pattern``; Int, Float and Decimal take
``min``/``max``; Boolean, DateTime, Json and enum fields take none. ``pattern`` is matched like
JSON Schema (``re.search``, unanchored) and is checked by applications, not by the database.
A DateTime default may only be ``"now"`` (the database's current timestamp).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from pydantic import JsonValue

from worker.schema.model import ExtensionEnum, ExtensionField, FieldValidation

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
DECIMAL_PRECISION, DECIMAL_SCALE = 38, 10
DEFAULT_STRING_LENGTH = 255
TEXT_THRESHOLD = 4000
"""String fields longer than this become TEXT columns (and cannot be indexed)."""
NUMERIC = ("Int", "Float", "Decimal")
NOW = "now"


def string_length(field: ExtensionField) -> int:
    """Declared ``maxLength`` of a String field, else 255."""
    rules = field.validation
    return rules.max_length if rules and rules.max_length else DEFAULT_STRING_LENGTH


def field_problems(field: ExtensionField, where: str, enum: ExtensionEnum | None) -> list[str]:
    """Every problem with ``field``'s validation rules and default."""
    problems = _rule_problems(field, f"{where}.validation")
    if field.default is not None:
        reason = _default_problem(field, field.default, enum)
        if reason:
            problems.append(f"{where}.default: {reason}")
    return problems


def _rule_problems(field: ExtensionField, where: str) -> list[str]:
    rules = field.validation
    if rules is None:
        return []
    set_keys = [k for k in ("min_length", "max_length", "pattern", "min", "max") if _has(rules, k)]
    allowed: tuple[str, ...] = ()
    if field.type == "String":
        allowed = ("min_length", "max_length", "pattern")
    elif field.type in NUMERIC:
        allowed = ("min", "max")
    problems = [
        f"{where}.{_camel(key)}: does not apply to a {field.type} field; remove it"
        for key in set_keys
        if key not in allowed
    ]
    problems.extend(_range_problems(field, rules, where))
    return problems


def _range_problems(field: ExtensionField, rules: FieldValidation, where: str) -> list[str]:
    problems: list[str] = []
    low, high = rules.min_length, rules.max_length
    if low is not None and high is not None and low > high:
        problems.append(f"{where}.minLength: is greater than maxLength {high}")
    if rules.min is not None and rules.max is not None and rules.min > rules.max:
        problems.append(f"{where}.min: is greater than max {rules.max:g}")
    if field.type == "Int":
        for key, value in (("min", rules.min), ("max", rules.max)):
            if value is not None and (value != int(value) or not INT_MIN <= value <= INT_MAX):
                problems.append(f"{where}.{key}: use a whole number in the Int range")
    for key, value in (("min", rules.min), ("max", rules.max)):
        if value is not None and not math.isfinite(value):
            problems.append(f"{where}.{key}: must be a finite number")
    if rules.pattern is not None:
        try:
            re.compile(rules.pattern)
        except re.error as exc:
            problems.append(f"{where}.pattern: not a valid regular expression ({exc})")
    return problems


def _has(rules: FieldValidation, key: str) -> bool:
    return getattr(rules, key) is not None


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p.title() for p in rest)


def _default_problem(field: ExtensionField, value: JsonValue, enum: ExtensionEnum | None) -> str:
    if enum is not None:
        if value not in enum.values:
            return f"{value!r} is not a value of enum {enum.name!r}; use one of {enum.values}"
        return ""
    check = {
        "String": _string_default,
        "Int": _int_default,
        "Float": _float_default,
        "Decimal": _decimal_default,
        "Boolean": _bool_default,
        "DateTime": _datetime_default,
    }.get(field.type)
    return check(field, value) if check else ""


def _string_default(field: ExtensionField, value: JsonValue) -> str:
    if not isinstance(value, str):
        return f"{value!r} is not a String; quote it"
    rules = field.validation or FieldValidation()
    if len(value) > string_length(field):
        return f"is longer than the field's maxLength {string_length(field)}"
    if rules.min_length is not None and len(value) < rules.min_length:
        return f"is shorter than minLength {rules.min_length}"
    if rules.pattern is not None and _safe_search(rules.pattern, value) is False:
        return f"does not match pattern {rules.pattern!r}"
    return ""


def _safe_search(pattern: str, value: str) -> bool | None:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return None


def _bounds(field: ExtensionField, number: float | Decimal) -> str:
    rules = field.validation or FieldValidation()
    if rules.min is not None and number < rules.min:
        return f"is below min {rules.min:g}"
    if rules.max is not None and number > rules.max:
        return f"is above max {rules.max:g}"
    return ""


def _int_default(field: ExtensionField, value: JsonValue) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{value!r} is not an Int; use a whole number"
    if not INT_MIN <= value <= INT_MAX:
        return f"is outside the Int range {INT_MIN}..{INT_MAX}"
    return _bounds(field, value)


def _float_default(field: ExtensionField, value: JsonValue) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"{value!r} is not a Float; use a number"
    if not math.isfinite(value):
        return "must be a finite number"
    return _bounds(field, value)


def _decimal_default(field: ExtensionField, value: JsonValue) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return f"{value!r} is not a Decimal; use a number or a numeric string"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return f"{value!r} is not a Decimal; use a number or a numeric string"
    if not number.is_finite():
        return "must be a finite number"
    _sign, digits, exponent = number.as_tuple()
    exponent = exponent if isinstance(exponent, int) else 0
    scale = max(-exponent, 0)
    if scale > DECIMAL_SCALE or len(digits) + exponent > DECIMAL_PRECISION - DECIMAL_SCALE:
        return f"does not fit Decimal({DECIMAL_PRECISION}, {DECIMAL_SCALE})"
    return _bounds(field, number)


def _bool_default(field: ExtensionField, value: JsonValue) -> str:
    return "" if isinstance(value, bool) else f"{value!r} is not a Boolean; use true or false"


def _datetime_default(field: ExtensionField, value: JsonValue) -> str:
    return "" if value == NOW else f"{value!r} is not allowed; the only DateTime default is 'now'"
