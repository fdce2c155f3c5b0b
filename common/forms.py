"""Form fields shared by the apps' admin forms."""

from __future__ import annotations

from typing import Any

from django import forms


class HttpsURLField(forms.URLField):
    """A URL field for addresses the service connects to: typed without a scheme, a URL
    means https (``example.com`` → ``https://example.com``), not Django's http."""

    def __init__(self, *, assume_scheme: str | None = "https", **kwargs: Any) -> None:
        super().__init__(assume_scheme=assume_scheme, **kwargs)
