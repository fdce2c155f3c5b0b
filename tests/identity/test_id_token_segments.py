"""The ID token's segments are read with PyJWT's own checks (identity.oidc.tokens._PyJWS
checks the characters with a regular expression instead of one by one): the same
segments are accepted, with the same bytes, and the same are refused."""

from __future__ import annotations

import itertools

import jwt
import pytest

from identity.oidc import tokens
from identity.oidc.tokens import _PyJWS

SEGMENTS = [
    b"",
    b"a",
    b"YQ",
    b"YR",  # the same byte as "YQ" with an unused bit set: not canonical
    b"YQ=",
    b"YQ==",
    b"YQ===",
    b"YWI",
    b"YWI=",
    b"YWI==",
    b"YWJj",
    b"YWJj=",
    b"YWJj====",
    b"=",
    b"==",
    b"!!!!",
    b"YW!j",
    b"YW+j",  # standard base64, not base64url
    b"YW/j",
    b"YW_j",
    b"YW-j",
    b"YW j",
    b"YW\nj",
    b"YWJ\x00",
    b"eyJhbGciOiJSUzI1NiJ9",
    "YWJj\u00e9".encode(),
    b"YWJjZA==",
    b"YWJjZA=",
    b"YWJjZA",
    b"YWJjZB",
]


def _read(reader, segment):
    try:
        return ("ok", reader._decode_base64url_segment(segment, "payload"))
    except jwt.DecodeError as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("segment", SEGMENTS)
def test_a_segment_is_read_as_pyjwt_reads_it(segment):
    assert _read(_PyJWS, segment) == _read(jwt.PyJWS, segment)


def test_every_short_segment_over_a_small_alphabet_is_read_as_pyjwt_reads_it():
    alphabet = b"AQgw_-=+/!"
    for length in range(6):
        for chars in itertools.product(alphabet, repeat=length):
            segment = bytes(chars)
            assert _read(_PyJWS, segment) == _read(jwt.PyJWS, segment), segment


def test_the_faster_reader_is_used_only_with_the_pyjwt_releases_it_was_compared_with():
    assert isinstance(tokens._JWS, _PyJWS)  # this one: the tests above compared them
    assert tokens._tested_pyjwt("2.15.1") and tokens._tested_pyjwt("2.9.0")
    assert not tokens._tested_pyjwt("2.16.0")  # a later release reads tokens its own way
    assert not tokens._tested_pyjwt("3.0.0") and not tokens._tested_pyjwt("dev")
