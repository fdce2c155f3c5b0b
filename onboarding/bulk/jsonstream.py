"""A streaming JSON tokenizer that knows the line of every token.

The route import reads files with 100,000 e-mail addresses and must name the line of
every bad one, which neither ``json`` (whole document in memory, no positions) nor the
usual streaming parsers (no line numbers) offer. This reads the text in chunks, so
memory is bounded by the chunk size plus the longest single token (an inline PEM
chain), and yields ``(kind, value, line)`` tuples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

from django.utils.translation import gettext_noop

from common.i18n import Phrase

CHUNK_CHARS = 1 << 20

#: Token kinds besides the punctuation characters themselves ("{", "}", "[", "]", ":", ",").
STRING = "string"
NUMBER = "number"
LITERAL = "literal"
EOF = "eof"

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\n\r]+)
    |(?P<string>"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*")
    |(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    |(?P<literal>true|false|null)
    |(?P<punct>[{}\[\]:,])
    """,
    re.VERBOSE,
)
# What an unfinished string looks like at the end of a chunk: more input may complete it.
# Both string patterns are "unrolled": a run of plain characters is one repetition of a
# character class, and only escapes alternate. The naive (plain|escape)* form made the
# regex engine keep state per character: a 20 MB string took 3 GB and 90 s to refuse.
_STRING_PREFIX = re.compile(
    r'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*'
    r"(?:\\(?:u[0-9a-fA-F]{0,3})?)?"
)
_LOOKAHEAD = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}


class JsonSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


END_OF_FILE = gettext_noop("the end of the file")
VALUE_TOO_LONG = gettext_noop("a value longer than {limit} characters")
UNEXPECTED = gettext_noop("unexpected {what}")
STRING_NOT_CLOSED = gettext_noop(
    "a string is not closed, or contains a line break or control character"
)
HALF_SURROGATE = gettext_noop("a string holds a \\u escape of half a UTF-16 surrogate pair")
#: What a syntax error may say, for :func:`common.i18n.register_templates`.
TEMPLATES = (END_OF_FILE, VALUE_TOO_LONG, UNEXPECTED, STRING_NOT_CLOSED, HALF_SURROGATE)


def _describe(text: str) -> str:
    if not text:
        return Phrase(END_OF_FILE)
    snippet = text[:20].split("\n", 1)[0]
    return f"'{snippet}'"


def tokens(stream: TextIO, *, max_token_chars: int = 16 << 20) -> Iterator[tuple[str, Any, int]]:
    """Yield ``(kind, value, line)`` for each token of ``stream``, then ``(EOF, None, line)``.

    Raises :class:`JsonSyntaxError` (with the line) on text that is not JSON.
    """
    buf = ""
    pos = 0
    line = 1
    eof = False
    match = _TOKEN.match
    while True:
        if pos >= len(buf):
            if eof:
                yield EOF, None, line
                return
            buf, pos = stream.read(CHUNK_CHARS), 0
            eof = not buf
            continue
        m = match(buf, pos)
        # Near the end of the chunk a token may be cut short ("12" of "123", "5" of
        # "5e3"); strings are delimited, numbers and literals are a few characters.
        if (m is None or len(buf) - m.end() < _LOOKAHEAD) and not eof:
            rest = buf[pos:]
            more = _more(stream, rest, line, matched=m is not None, limit=max_token_chars)
            buf, pos, eof = rest + more, 0, not more
            continue
        if m is None:
            raise _syntax_error(buf[pos:], line)
        kind = m.lastgroup
        text = m.group()
        pos = m.end()
        if kind == "ws":
            line += text.count("\n")
        else:
            yield _token(kind, text, line)


def _more(stream: TextIO, rest: str, line: int, *, matched: bool, limit: int) -> str:
    """More text for a token that may continue in the next chunk ("" at the end of the
    file), unless it cannot: too long already, or no JSON token starts like ``rest``."""
    if len(rest) > limit:
        raise JsonSyntaxError(line, Phrase(VALUE_TOO_LONG, limit=limit))
    if not matched and not _could_continue(rest) and len(rest) >= _LOOKAHEAD:
        raise JsonSyntaxError(line, Phrase(UNEXPECTED, what=_describe(rest)))
    # A long token is read in growing pieces (so it is scanned a few times, not once per
    # chunk), never much past the limit (so refusing it costs little).
    return stream.read(max(1, min(max(CHUNK_CHARS, len(rest)), limit + _LOOKAHEAD - len(rest))))


def _syntax_error(rest: str, line: int) -> JsonSyntaxError:
    if rest.startswith('"'):
        return JsonSyntaxError(line, Phrase(STRING_NOT_CLOSED))
    return JsonSyntaxError(line, Phrase(UNEXPECTED, what=_describe(rest)))


def _token(kind: str | None, text: str, line: int) -> tuple[str, Any, int]:
    """The token a match of ``_TOKEN`` (other than white space) stands for."""
    if kind == "string":
        return STRING, _string(text, line), line
    if kind == "punct":
        return text, None, line
    if kind == "number":
        return NUMBER, _number(text), line
    return LITERAL, _LITERALS[text], line


def _string(text: str, line: int) -> str:
    if "\\" not in text:
        return text[1:-1]
    value: str = json.loads(text)
    if _SURROGATE.search(value):
        # "\ud800" alone is valid JSON syntax but no character: the text could be
        # neither stored nor encoded.
        raise JsonSyntaxError(line, Phrase(HALF_SURROGATE))
    return value


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    try:
        return int(text)
    except ValueError:
        # More digits than Python converts (sys.get_int_max_str_digits): no port anyway.
        return float(text)


def _could_continue(rest: str) -> bool:
    if rest.startswith('"'):
        return _STRING_PREFIX.fullmatch(rest) is not None
    # A number or literal cut by the chunk boundary is short.
    return len(rest) < 8 and rest[0] in "-0123456789tfn"
