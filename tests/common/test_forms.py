from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from common.forms import HttpsURLField


def test_a_url_typed_without_a_scheme_means_https():
    assert HttpsURLField().clean("idp.acme.example/as") == "https://idp.acme.example/as"


def test_a_url_with_its_own_scheme_keeps_it():
    assert HttpsURLField().clean("http://idp.acme.example") == "http://idp.acme.example"


def test_what_is_no_url_stays_refused():
    with pytest.raises(ValidationError):
        HttpsURLField().clean("not a url")
