from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def staff_oidc_enabled() -> bool:
    """Whether the admin login page offers "Sign in with your company account"."""
    return bool(getattr(settings, "STAFF_OIDC_ENABLED", False))
