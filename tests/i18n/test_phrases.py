"""Sentences kept in English and said in the reader's language where shown (common.i18n)."""

from __future__ import annotations

import json
import pickle
import time

import pytest
from django.utils import translation

from certificates.validation import inspect_chain_bytes
from common.i18n import Phrase, phrase_data, phrase_from_data, translated
from onboarding.api.errors import RATE_LIMITED
from onboarding.job_runner import FAILED_PROBLEMS, REQUEUED
from onboarding.views import CODE_INVALID
from tests import pki


def test_a_phrase_is_its_english_sentence_wherever_it_goes():
    phrase = Phrase(RATE_LIMITED, seconds=42)

    assert phrase == "Too many requests; try again in 42 seconds."
    assert json.dumps({"d": phrase}) == '{"d": "Too many requests; try again in 42 seconds."}'
    assert f"{phrase}" == str(phrase) == "Too many requests; try again in 42 seconds."


def test_a_phrase_is_said_in_the_active_language():
    phrase = Phrase(RATE_LIMITED, seconds=42)

    with translation.override("de"):
        assert translated(phrase) == "Zu viele Anfragen; versuchen Sie es in 42 Sekunden erneut."
    with translation.override("en"):
        assert translated(phrase) == phrase


def test_a_phrase_survives_the_cache_and_is_still_translatable():
    copy = pickle.loads(pickle.dumps(Phrase(RATE_LIMITED, seconds=42)))  # noqa: S301 (our own)

    with translation.override("de"):
        assert translated(copy) == "Zu viele Anfragen; versuchen Sie es in 42 Sekunden erneut."


def test_counts_are_grouped_as_the_language_groups_them():
    report = inspect_chain_bytes(b"x" * 12_345, max_bytes=10_000)

    assert "The file is 12,345 bytes; at most 10,000 bytes" in report.errors[0].message
    with translation.override("de"):
        assert report.error_messages[0].startswith(
            "Die Datei ist 12.345 Bytes groß; höchstens 10.000 Bytes"
        )


def test_a_phrase_inside_a_phrase_is_translated_with_it():
    unlinked = pki.issue("Acme Issuing CA", issuer=pki.issue("Acme Root"))
    report = inspect_chain_bytes(pki.pem_bundle([unlinked]).encode())

    assert report.errors[0].message.startswith("Block 1 (O=Example,CN=Acme Issuing CA) is issued")
    with translation.override("de"):
        assert report.error_messages[0].startswith(
            "Block 1 (O=Example,CN=Acme Issuing CA) ist von O=Example,CN=Acme Root ausgestellt"
        )


def test_a_phrase_stored_as_json_is_read_back_whole():
    unlinked = pki.issue("Acme Issuing CA", issuer=pki.issue("Acme Root"))
    problem = inspect_chain_bytes(pki.pem_bundle([unlinked]).encode()).errors[0].message
    line = Phrase("{where}: {problem}", where="routes.json:7", problem=problem)

    stored = json.loads(json.dumps(phrase_data(line)))
    read = phrase_from_data(stored, str(line))

    assert isinstance(read, Phrase) and read == line
    with translation.override("de"):
        assert translated(read).startswith("routes.json:7: Block 1 (O=Example,CN=Acme Issuing")
        assert "ist von O=Example,CN=Acme Root ausgestellt" in translated(read)


def test_a_stored_phrase_whose_template_no_longer_fits_keeps_its_text():
    stored = phrase_data(Phrase(RATE_LIMITED, seconds=42))
    text = "Too many requests; try again in 42 seconds."

    # Another release's template: a value it no longer has, or other words.
    assert phrase_from_data({**stored, "template": "Wait {minutes} minutes."}, text) is text
    assert phrase_from_data({**stored, "template": "Wait {seconds} s."}, text) is text
    assert phrase_from_data({"template": RATE_LIMITED}, text) is text  # no values
    assert phrase_from_data("plain", text) is text


@pytest.mark.parametrize(
    "template",
    [
        "{x.__class__}",  # attribute lookup: a way to the process's settings
        "{x.translated.__globals__}",
        "{x[0]}",
        "{0}",
        "{x!r}",
        "{x:>300000000}",  # a width: gigabytes of spaces
        "{",  # not a template at all
    ],
)
def test_a_stored_template_that_does_more_than_put_values_in_place_is_not_used(template):
    text = "as stored"
    started = time.perf_counter()

    read = phrase_from_data({"template": template, "values": {"x": "a"}}, text)

    assert read is text
    assert time.perf_counter() - started < 1  # nothing was formatted at that width


def test_only_a_phrase_is_stored_as_a_template():
    # A JSON object from a customer's file, where a name was expected, stays its text.
    crafted = {"template": "{x.__class__}", "values": {"x": "a"}}
    line = Phrase(RATE_LIMITED, seconds=crafted)

    stored = phrase_data(line)

    assert stored["values"]["seconds"] == str(crafted)
    assert phrase_from_data(json.loads(json.dumps(stored)), str(line)) == str(line)


def test_a_marked_constant_is_looked_up_as_it_is():
    with translation.override("de"):
        assert translated(CODE_INVALID).startswith("Dieser Code ist ungültig oder abgelaufen.")
        assert translated("Someone's own words.") == "Someone's own words."
        assert translated("") == ""  # not the catalogue's header


def test_stored_english_is_recognised_by_its_template():
    stored = FAILED_PROBLEMS.format(count=3, file="routes {new}.json")
    other = REQUEUED.format(worker="host:12:ab", attempt=2, limit=3)
    known = [FAILED_PROBLEMS, REQUEUED]

    with translation.override("de"):
        assert translated(stored, known=known) == (
            "3 Problem(e) in routes {new}.json; es wurde nichts geschrieben."
        )
        assert translated(other, known=known) == (
            "Erneut eingereiht: Der Worker host:12:ab hat nicht mehr geantwortet (Versuch 2 von 3)."
        )
        assert translated("Written by hand.", known=known) == "Written by hand."


def test_crafted_stored_text_is_shown_as_written_not_matched_at_length():
    # Report lines quote file content: a deeply nested or long line must neither recurse
    # without end nor backtrack for seconds against templates with several open fields.
    from onboarding.admin_bulk import job_message

    with translation.override("de"):
        deep = ": " * 400 + "x"
        assert job_message(deep) == deep
        unit = '" for route "x", which has "'
        long_line = ('col: "' + unit * 40 + '" for route "r", which has "a" on line 3')[:2000]
        assert job_message(long_line) == long_line
        nested = ": " * 140 + "x"  # within the length bound: nesting is bounded instead
        assert job_message(nested) == nested
