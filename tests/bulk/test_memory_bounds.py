"""Hostile JSON stays cheap to refuse (issue 11, item 3): a 20 MB string, deep nesting."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onboarding.bulk.jsonstream import STRING, tokens
from onboarding.bulk.readers import MAX_NESTING
from tests.bulk.test_errors import json_errors

ROOT = Path(__file__).resolve().parents[2]

# Reads a file with the importer's JSON reader and limits, in a process of its own, and
# prints each problem and the process's peak resident memory.
_READER = """
import os, resource, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from onboarding.bulk.readers import Issue, read_json
with open(sys.argv[1], encoding="utf-8") as stream:
    for record in read_json(stream, max_token_chars=16 << 20):
        if isinstance(record, Issue):
            print(f"{record.line}: {record.message}")
print(f"maxrss_kib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"""


def test_a_20_mb_string_is_refused_in_bounded_time_and_memory(tmp_path):
    path = tmp_path / "routes.json"
    path.write_text('{"routes": [{"display_name": "' + "a" * 20_000_000 + '"}]}')
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _READER, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "1: not valid JSON: a value longer than 16777216 characters" in result.stdout
    peak_mib = int(result.stdout.rsplit("maxrss_kib ", 1)[1]) / 1024
    # Measured before the fix: 3 GB and 90 s. Now about 200 MB (Django included) and 4 s.
    assert peak_mib < 300, f"peak RSS {peak_mib:.0f} MiB"
    assert elapsed < 30


def test_values_nested_too_deep_are_a_syntax_error_with_their_line(acme, corp_idp, workdir):
    deep = "[" * 10_000 + "]" * 10_000
    text = '{"routes": [\n{"display_name": "Berlin UMS",\n "extra": ' + deep + "}]}"
    errors = json_errors(workdir, text)
    assert f"routes.json:3: not valid JSON: values nested more than {MAX_NESTING} levels deep" in (
        errors
    )


def test_nesting_a_route_file_uses_is_read(acme, corp_idp, workdir):
    text = json.dumps({"routes": [{"display_name": "Berlin UMS", "extra": [[{"a": [1]}]]}]})
    errors = json_errors(workdir, text)
    assert not any("nested" in e for e in errors)


@pytest.mark.parametrize("units", [1, 150_000, 400_000])
def test_long_strings_with_escapes_across_chunks_are_read(units):
    escaped = "x\\n\\u00e9" * units  # 9 characters of JSON each, across 1 MiB chunks
    text = '{"k": "' + escaped + '"}'
    strings = [v for kind, v, _ in tokens(io.StringIO(text)) if kind == STRING]
    assert strings == ["k", "x\né" * units]
