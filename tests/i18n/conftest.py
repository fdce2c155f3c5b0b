"""Fixtures of the language tests: compiled catalogues and a reader of what a page says.

``make test`` compiles the catalogues before pytest runs; a direct ``pytest`` run may come
after a change to the .po file, so the catalogues are compiled here when they are stale
(compilemessages skips an up-to-date .mo).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation

from tests.onboarding.conftest import acme_route, idp  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogues() -> None:
    call_command("compilemessages", ignore_patterns=[".*"], verbosity=0)


@pytest.fixture(autouse=True)
def _english_afterwards() -> Iterator[None]:
    """LocaleMiddleware activates each request's language and leaves it active in the
    thread: after a German request, a later test's messages would be German."""
    yield
    translation.deactivate()


#: Attributes a person reads or hears (tooltips, placeholders, screen readers, buttons).
_READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self.hidden += 1
        values = dict(attrs)
        for name in _READ_ATTRIBUTES:
            self._add(values.get(name))
        if tag == "input" and values.get("type") in ("submit", "button"):
            self._add(values.get("value"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self.hidden = max(0, self.hidden - 1)

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self._add(data)

    def _add(self, text: str | None) -> None:
        text = " ".join((text or "").split())
        if text:
            self.parts.append(text)


def visible_text(html: str) -> list[str]:
    """The page's text as a person sees it: one entry per text run, whitespace collapsed."""
    parser = _VisibleText()
    parser.feed(html)
    return parser.parts


_TWO_WORDS = re.compile(r"[A-Za-z]{2,}\S*\s+\S*[A-Za-z]{2,}")


def english_left_over(english: str, german: str, *, allowed: Iterable[str] = ()) -> list[str]:
    """Phrases of the English page that the German page shows unchanged.

    A phrase is a text run of at least two words (icon names and codes are one); ``allowed`` names runs that are the same
    in both languages (product names, the test's own data).
    """
    german_parts = set(visible_text(german))
    return sorted(
        {
            part
            for part in visible_text(english)
            if part in german_parts and part not in set(allowed) and _TWO_WORDS.search(part)
        }
    )


#: The same in both languages: product names and what the fixtures call things.
SAME_IN_BOTH = {
    "IGEL OS Onboarding",
    "IGEL OS",
    "Acme Corp",
    "Berlin UMS",
    "IGEL Cloud Gateway (ICG)",
    "Microsoft Entra ID",
    "Ping Identity",
}


def pages_in_both(client: Any, path: str, **extra: Any) -> tuple[str, str]:
    """``path`` as the English and as the German browser get it (same status)."""
    english = client.get(path, HTTP_ACCEPT_LANGUAGE="en", **extra)
    german = client.get(path, HTTP_ACCEPT_LANGUAGE="de", **extra)
    assert english.status_code == german.status_code, path
    return english.content.decode(), german.content.decode()


def admin_pages_in_both(client: Any, user: Any, path: str) -> tuple[str, str]:
    """An admin page, signed in as ``user``, in both languages (it must answer 200)."""
    client.force_login(user)
    english = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
    german = client.get(path, HTTP_ACCEPT_LANGUAGE="de")
    assert english.status_code == german.status_code == 200, path
    return english.content.decode(), german.content.decode()


def untranslated(pages: tuple[str, str], also_same: Iterable[str] = ()) -> list[str]:
    """The English phrases a German page still shows (product names and data aside)."""
    return english_left_over(*pages, allowed=SAME_IN_BOTH | set(also_same))
