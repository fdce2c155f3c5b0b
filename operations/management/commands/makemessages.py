"""``makemessages`` with this project's settings, so everyone extracts alike (docs/i18n.md).

``manage.py makemessages -l de`` (``make messages``) then reads the apps, ``config/`` and
``templates/`` only, writes file names without line numbers (moving code does not churn
the catalogue) and drops entries no longer in the code. The test of the catalogue runs
the same command (tests/i18n/test_catalogue.py).
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import makemessages

#: Besides Django's defaults (hidden folders such as .venv and .git): code that no one
#: reads in a browser, and generated folders.
IGNORED = ["tests", "bench", "media", "staticfiles", "build", "*.egg-info", "fixtures"]


class Command(makemessages.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *IGNORED]
        if options.get("add_location") is None:
            options["add_location"] = "file"
        options["no_obsolete"] = True
        super().handle(*args, **options)
