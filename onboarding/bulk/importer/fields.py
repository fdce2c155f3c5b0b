"""Values of an import file as the models want them, and as messages show them.

CSV cells are always text; JSON has numbers, true/false and null too. The same file
value is coerced the same way for both formats (``"8443"`` and ``8443`` are a port),
and a message quotes what the file wrote (``"8443x"``, ``true``, ``a list``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_noop

from common.i18n import Phrase
from onboarding.bulk.readers import DOMAIN, USER

#: ``{subject}: {detail}``: a field or value and what is wrong with it. Not a sentence
#: (the same in every language), so not in the catalogue; its parts are translated.
DETAIL = "{subject}: {detail}"
A_NUMBER = gettext_noop("a number")
A_LIST = gettext_noop("a list")
AN_OBJECT = gettext_noop("an object")
TEXT = gettext_noop("text")
A_WHOLE_NUMBER = gettext_noop("a whole number")
TRUE_OR_FALSE = gettext_noop("true or false")
PORT_AS_NUMBER = gettext_noop("the port as a number")
INVALID = {
    USER: gettext_noop('{label} "{value}" is not a valid e-mail address'),
    DOMAIN: gettext_noop('{label} "{value}" is not a valid domain'),
}
TEMPLATES = (
    DETAIL, A_NUMBER, A_LIST, AN_OBJECT, TEXT, A_WHOLE_NUMBER, TRUE_OR_FALSE, PORT_AS_NUMBER,
    *INVALID.values(),
)  # fmt: skip


def json_type(value: Any) -> str:
    """What kind of JSON value ``value`` is, in the words of a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return Phrase(A_NUMBER)
    if isinstance(value, list):
        return Phrase(A_LIST)
    if isinstance(value, dict):
        return Phrase(AN_OBJECT)
    return Phrase(TEXT)


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
    ("ums_port", as_int, Phrase(A_WHOLE_NUMBER), Phrase(PORT_AS_NUMBER)),
    ("enabled", as_bool, Phrase(TRUE_OR_FALSE), Phrase(TRUE_OR_FALSE)),
)
#: Route fields that are text (stripped; ``target`` also lower-cased).
TEXT_FIELDS = ("ums_hostname", "target")

_INVALID_PREFIXES = {
    USER: "'{value}' is not a valid e-mail address.",
    DOMAIN: "'{value}' is not a valid domain: ",
}


def mapping_message(kind: str, label: str, value: str, reason: str) -> str:
    """Why a mapped user or domain is refused, naming the value once."""
    # The validators' messages may start by repeating the value; say it once.
    prefix = _INVALID_PREFIXES[kind].format(value=value)
    if reason.startswith(prefix):
        reason = reason[len(prefix) :].strip()
    text = Phrase(INVALID[kind], label=label, value=value)
    return Phrase(DETAIL, subject=text, detail=reason) if reason else text
