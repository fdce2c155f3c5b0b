"""Values of an import file as the models want them, and as messages show them.

CSV cells are always text; JSON has numbers, true/false and null too. The same file
value is coerced the same way for both formats (``"8443"`` and ``8443`` are a port),
and a message quotes what the file wrote (``"8443x"``, ``true``, ``a list``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from onboarding.bulk.readers import DOMAIN, USER


def json_type(value: Any) -> str:
    """What kind of JSON value ``value`` is, in the words of a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text"


def shown(value: Any) -> str:
    """A value as the file wrote it: "8443x" for text, true / null / 1.5 for JSON values."""
    if isinstance(value, str):
        return f'"{value}"'
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return json_type(value)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    # isdigit() alone also accepts "²" or "①", which int() refuses.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


_TRUE = frozenset({"true", "yes", "1", "on", "y"})
_FALSE = frozenset({"false", "no", "0", "off", "n"})


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


#: Route fields that are not text: (field, parser, what it must be, how to write it in JSON).
TYPED_FIELDS: tuple[tuple[str, Callable[[Any], Any], str, str], ...] = (
    ("ums_port", as_int, "a whole number", "the port as a number"),
    ("enabled", as_bool, "true or false", "true or false"),
)
#: Route fields that are text (stripped; ``target`` also lower-cased).
TEXT_FIELDS = ("ums_hostname", "target")

_INVALID_PREFIXES = {
    USER: "'{value}' is not a valid e-mail address.",
    DOMAIN: "'{value}' is not a valid domain: ",
}
_INVALID_TEXT = {USER: "is not a valid e-mail address", DOMAIN: "is not a valid domain"}


def mapping_message(kind: str, label: str, value: str, reason: str) -> str:
    """Why a mapped user or domain is refused, naming the value once."""
    # The validators' messages may start by repeating the value; say it once.
    prefix = _INVALID_PREFIXES[kind].format(value=value)
    if reason.startswith(prefix):
        reason = reason[len(prefix) :].strip()
    text = f'{label} "{value}" {_INVALID_TEXT[kind]}'
    return f"{text}: {reason}" if reason else text
