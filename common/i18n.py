"""Sentences kept in English with their values, said in the reader's language where shown.

Some sentences are made where no reader is known yet: a chain file is judged the same
way for ``inspect_chain`` (an operator, English, JSON) and for the admin (a customer,
maybe German); an import job's message is written by the worker and read in the admin.
They are built as a :class:`Phrase`: a ``str`` that *is* the English sentence, so
commands, JSON, logs, tests and stored rows keep it exactly as before, and that also
remembers its template and values, so a page can say it in the language of whoever
reads it (:func:`translated`). Templates are marked with ``gettext_noop`` where they are
written, which puts them in the catalogue (docs/i18n.md).

A sentence stored as plain English (a row read back from the database) is recognised by
its template again: ``translated(text, known=TEMPLATES)``, or through the templates an
app registered (:func:`register_templates`, in its ``AppConfig.ready``), so a page of an
app that may not import the writer (the audit log shows an import job's message) still
says it in its reader's language. The values read back out of the text are recognised
the same way, so a stored line that held a Phrase inside a Phrase is translated whole.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from django.utils import formats
from django.utils.functional import Promise
from django.utils.translation import get_language, gettext


class Phrase(str):
    """The English sentence ``template.format(**values)``, translatable later.

    A value may itself be a Phrase (translated with the sentence) or an ``int`` (a count:
    ``{n:,}`` groups it as the reader's language does, 1,234 or 1.234). Anything done to
    the string (slicing, ``+``) gives a plain English ``str``.
    """

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Phrase:
        phrase = super().__new__(cls, template.format(**values))
        phrase.template = template
        phrase.values = values
        return phrase

    def translated(self) -> str:
        """The sentence in the active language (English when none is active)."""
        values = {name: _localised(value) for name, value in self.values.items()}
        return gettext(self.template).format(**values)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.template, self.values))


def _rebuild(template: str, values: dict[str, Any]) -> Phrase:
    return Phrase(template, **values)


def clipped(value: Any, limit: int) -> Any:
    """``value`` with each text in it cut to ``limit`` characters (and "…"): a Phrase's
    values at any depth, or the text itself. For sentences that quote what a customer
    wrote, which may be megabytes, before they are kept or shown."""
    if isinstance(value, Phrase):
        return Phrase(value.template, **{k: clipped(v, limit) for k, v in value.values.items()})
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    return value


def phrase_data(value: Any) -> Any:
    """``value`` as JSON keeps it: a :class:`Phrase` as its template and values (each
    value the same way), a count as a number, anything else as its text.
    :func:`phrase_from_data` reads it back, so a stored sentence is said in its reader's
    language whole, with no guessing of its template from its English text.

    Only a Phrase becomes a mapping: a value that came from a customer's file (a JSON
    object where a name was expected) is stored as its text, never as a template.
    """
    if isinstance(value, Phrase):
        values = {name: phrase_data(item) for name, item in value.values.items()}
        return {"template": value.template, "values": values}
    if _is_count(value):
        return value
    return str(value)


def phrase_from_data(data: Any, text: str) -> str:
    """The Phrase that :func:`phrase_data` stored, if it still says ``text``; else ``text``.

    A template changed since the sentence was stored (another release) would say
    something else, or fail on a value it no longer has: then the stored English stands,
    for :func:`translated` to recognise as it can. Stored data is trusted no further than
    that: a template is used only if each of its fields is a plain name with no format
    but the grouping of counts (no attribute or item lookup, no width), and anything
    else that fails to read back leaves the text.
    """
    try:
        phrase = _from_data(data, MAX_STORED_NESTING)
    except Exception:  # noqa: BLE001 - any unreadable structure: the stored text stands
        return text
    return phrase if isinstance(phrase, Phrase) and phrase == text else text


#: How deep stored Phrases may nest (the importer's lines hold three levels), and how
#: long a stored template may be (this project's longest is some 300 characters).
MAX_STORED_NESTING = 8
MAX_STORED_TEMPLATE_CHARS = 1000


def _from_data(data: Any, depth: int) -> Any:
    if isinstance(data, dict):
        template, values = data["template"], data["values"]
        if depth <= 0 or not isinstance(values, dict) or not _plain_template(template):
            raise ValueError("not a stored Phrase")
        return Phrase(template, **{name: _from_data(v, depth - 1) for name, v in values.items()})
    if _is_count(data):
        return data
    if isinstance(data, str):
        # A value that is a whole sentence of the catalogue (a validator's message) is said
        # in the reader's language, as when stored text is recognised.
        sentence = _sentence(data)
        return sentence[1] if sentence is not None else data
    raise ValueError("not a stored value")


def _is_count(value: Any) -> bool:
    """Whether ``value`` is a count of a sentence: an ``int``, and not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def _plain_template(template: object) -> bool:
    """Whether ``template`` only puts named values in place (``{name}``, ``{count:,}``)."""
    if not isinstance(template, str) or len(template) > MAX_STORED_TEMPLATE_CHARS:
        return False
    return _places_named_values(template)


@lru_cache(maxsize=256)
def _places_named_values(template: str) -> bool:
    """:func:`_plain_template` for a string, worked out once per template (a job page
    reads back up to a thousand lines written from a few dozen templates)."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return False
    return all(
        name is None or (name.isidentifier() and conversion is None and spec in ("", ","))
        for _literal, name, spec, conversion in fields
    )


class _Count(int):
    """An ``int`` value of a translated sentence: grouped in the reader's way by ``{:,}``."""

    def __format__(self, spec: str) -> str:
        if spec == ",":
            return formats.number_format(int(self), force_grouping=True)
        return format(int(self), spec)


def _localised(value: Any) -> Any:
    if isinstance(value, Phrase):
        return value.translated()
    if _is_count(value):
        return _Count(value)
    return value


_registered: list[str] = []

#: Longer stored text is shown as written (English): see :func:`translated`.
MAX_RECOGNISED_CHARS = 300
#: How deep templates are recognised inside each other's values.
MAX_NESTING = 3


def register_templates(templates: Iterable[str]) -> None:
    """Let :func:`translated` recognise stored text written from ``templates`` anywhere.

    For apps whose sentences are stored as English and shown by pages of other apps.
    """
    _registered.extend(t for t in templates if t not in _registered)


def translated(text: str | Promise, *, known: Iterable[str] = ()) -> str:
    """``text`` in the active language, for a page.

    A :class:`Phrase` is translated with its values; a plain string is looked up in the
    catalogue as it is (a constant marked ``gettext_noop``) unless it matches one of the
    ``known`` or registered templates, whose values are then read back out of it (and
    recognised in turn). Text that is none of these (a name, a third party's message)
    comes back unchanged.
    """
    if isinstance(text, Promise):
        return str(text)
    if isinstance(text, Phrase):
        return text.translated()
    if not text:
        return text  # gettext("") is the catalogue's header
    if _source_language():
        # Stored text is English and has no English catalogue: recognising its template
        # would give the same text back, at the cost of matching every registered
        # template (on every English device-API error description).
        return text
    said = gettext(text)
    if said != text:
        return said  # a constant of the catalogue as it is, before any template's guess
    if len(text) > MAX_RECOGNISED_CHARS:
        # Stored lines quote file content: matching a crafted long line against templates
        # with several open fields backtracks for seconds. Real messages are shorter.
        return text
    phrase = recognised(text, _by_specificity((*known, *_registered)))
    return phrase.translated() if phrase is not None else text


def _source_language() -> bool:
    """Whether the active language is English, the language every message is written in."""
    return (get_language() or "en").split("-")[0] == "en"


def recognised(text: str, templates: tuple[str, ...]) -> Phrase | None:
    """``text`` as a Phrase of ``templates``, its values recognised too; None if none fits.

    Templates nest (``{where}: {problem}`` around ``{value} is not {expected}``), so
    several may match; the reading that explains the most literal text wins. A value that
    no template fits but that is a whole sentence of the catalogue (a validator's message,
    ending with a full stop) is translated as it is.
    """
    best = _best_reading(text, templates, {}, MAX_NESTING)
    return best[1] if best is not None else None


def _best_reading(
    text: str,
    templates: tuple[str, ...],
    seen: dict[str, tuple[int, Phrase] | None],
    depth: int,
) -> tuple[int, Phrase] | None:
    if text in seen:
        return seen[text]
    best: tuple[int, Phrase] | None = None
    if "{" not in text and "}" not in text and text in templates:
        best = (len(text), Phrase(text))
    for template in templates if best is None and depth > 0 else ():
        match = _pattern(template).fullmatch(text)
        if match is None:
            continue
        score, values = _literal_length(template), {}
        for name, value in match.groupdict().items():
            inner = _best_reading(value, templates, seen, depth - 1) or _sentence(value)
            score += inner[0] if inner else 0
            values[name] = inner[1] if inner else value
        if best is None or score > best[0]:
            best = (score, Phrase(template, **values))
    seen[text] = best
    return best


def _sentence(value: str) -> tuple[int, Phrase] | None:
    if value.endswith(".") and "{" not in value and "}" not in value and gettext(value) != value:
        return len(value), Phrase(value)
    return None


@cache
def _by_specificity(templates: tuple[str, ...]) -> tuple[str, ...]:
    """Most literal text first (of equal readings, the first wins); templates without
    literal text would match anything (and recurse for ever), so they are left out."""
    usable = dict.fromkeys(t for t in templates if _literal_length(t))
    return tuple(sorted(usable, key=_literal_length, reverse=True))


def _literal_length(template: str) -> int:
    return sum(len(literal) for literal, *_ in string.Formatter().parse(template))


@cache
def _pattern(template: str) -> re.Pattern[str]:
    """A regular expression matching what ``template.format(...)`` gives, values as groups.

    For templates whose fields have neither a format spec nor a repeated name.
    """
    parts = []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(f"(?P<{field}>.*?)")
    return re.compile("".join(parts), re.DOTALL)
