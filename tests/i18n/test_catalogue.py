"""The German catalogue holds every marked string, translated (issue 14).

The catalogue is regenerated from the code exactly as ``make messages`` does, in a copy
of the project, so a string marked today and not yet translated fails here, as does a
changed English sentence (gettext marks its old translation fuzzy).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = Path("locale") / "de" / "LC_MESSAGES" / "django.po"
#: What a copy of the project needs for makemessages: the code, not its data or tools.
NOT_COPIED = shutil.ignore_patterns(
    ".*",
    "__pycache__",
    "tests",
    "bench",
    "media",
    "staticfiles",
    "build",
    "*.egg-info",
    "*.mo",
    "*.sqlite3",
    "*.pem",
)
_MSGID = re.compile(r'^msgid "(.*)"$', re.MULTILINE)


def _run(*command: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DEBUG": "True"},
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def _entries(po_text: str) -> list[str]:
    """The msgids of a .po excerpt, the header left out (first lines of long ones)."""
    return [m for m in _MSGID.findall(po_text) if m] or (
        ["(a long message)"] if "msgid" in po_text else []
    )


def test_every_marked_string_has_a_german_translation(tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    _run(
        sys.executable, "manage.py", "makemessages", "--locale", "de", "--verbosity", "0", cwd=copy
    )
    regenerated = copy / CATALOGUE

    untranslated = _run("msgattrib", "--untranslated", "--no-obsolete", str(regenerated))
    fuzzy = _run("msgattrib", "--only-fuzzy", "--no-obsolete", str(regenerated))

    assert not untranslated, (
        "Marked strings without German (run `make messages` and translate them in "
        f"{CATALOGUE}): {_entries(untranslated)}"
    )
    assert not fuzzy, (
        f"German guessed by gettext for changed English (check and un-fuzzy them in {CATALOGUE}): "
        f"{_entries(fuzzy)}"
    )


def test_the_committed_catalogue_compiles_with_every_placeholder_kept():
    # --check: each translation keeps the English one's %(name)s / {name} placeholders
    # (a missing or misspelt one would raise KeyError when the page is rendered).
    _run("msgfmt", "--check", "--output-file", os.devnull, str(ROOT / CATALOGUE))
