"""The identity provider form: the client secret is write-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import escape, format_html
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from unfold.widgets import UnfoldAdminPasswordWidget

from common import crypto
from common.forms import HttpsURLField
from identity import services
from identity.models import IdentityProvider

# A message, not a secret (ruff's S105 goes by the name).
SECRET_HELP = gettext_noop(
    "The client secret (value, not its ID) of the app you registered. Stored encrypted and never shown again; leave empty to keep the stored one, as long as the kind, client ID, issuer, endpoints and directory stay the same."  # noqa: S105, E501
)


SECRET_KEPT = gettext_noop(
    "The secret you typed is kept (encrypted) until you save; type it again only to change it."  # noqa: S105, E501 (a message)
)
PING_ENVIRONMENT_HELP = gettext_noop(
    "PingOne only, instead of the issuer URL: the environment ID (a GUID) from the app's "
    "Configuration tab; the issuer is then <PingOne host>/<ID>/as."
)
_KEPT_PURPOSE = "idp-form-secret:"
KEPT_FIELD = "kept_secret"


def _kept_secret(token: str) -> str:
    """The secret typed before a validation error, from the page's encrypted hidden field."""
    try:
        plain = crypto.decrypt(token)
    except ValueError:
        return ""
    return plain.removeprefix(_KEPT_PURPOSE) if plain.startswith(_KEPT_PURPOSE) else ""


class SecretWidget(UnfoldAdminPasswordWidget):
    """An empty password box, plus the secret typed before a validation error, encrypted.

    The page comes back with the typed secret encrypted under the server's key (a hidden
    input beside the box), so the admin need not type it again and the page never
    holds it in clear.
    """

    kept: str = ""

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> str:
        html = super().render(name, None, attrs, renderer)
        if not self.kept:
            return html
        return format_html(
            '{}<input type="hidden" name="{}" value="{}"><p class="kept-secret">{}</p>',
            html,
            KEPT_FIELD,
            self.kept,
            gettext(SECRET_KEPT),
        )


class IdentityProviderForm(forms.ModelForm):
    # Not the model field: a PasswordInput that never renders the value back, and empty
    # means "keep", so the secret cannot leak through the page or be lost by a save.
    client_secret = forms.CharField(
        label=gettext_lazy("Client secret"),
        required=False,
        strip=True,
        widget=SecretWidget(attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy(SECRET_HELP),
    )

    class Meta:
        model = IdentityProvider
        # IdP URLs are https: one typed without a scheme means https, not http.
        field_classes = dict.fromkeys(
            ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"],
            HttpsURLField,
        )
        fields = [
            "tenant",
            "name",
            "kind",
            "client_id",
            "scopes",
            "email_claim",
            "entra_tenant_id",
            "okta_domain",
            "okta_auth_server",
            "issuer",
            "ping_environment_id",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stored_secret = self.instance.client_secret if self.instance.pk else ""
        if "ping_environment_id" in self.fields:
            # Admin help texts are HTML: "<PingOne host>" would vanish as a tag.
            self.fields["ping_environment_id"].help_text = escape(gettext(PING_ENVIRONMENT_HELP))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kept = str(self.data.get(self.add_prefix(KEPT_FIELD), ""))
        if not cleaned.get("client_secret") and kept:
            cleaned["client_secret"] = _kept_secret(kept)
        if cleaned.get("client_secret"):
            widget = self.fields["client_secret"].widget
            assert isinstance(widget, SecretWidget)
            widget.kept = crypto.encrypt(_KEPT_PURPOSE + cleaned["client_secret"])
        typed = cleaned.get("client_secret") or None
        fields = {k: v for k, v in cleaned.items() if k in services.EDITABLE_FIELDS}
        changed = [] if typed else services.secret_bound_changes(self.instance, fields)
        error = services.idp_secret_error(self.instance, client_secret=typed, changed=changed)
        if error:
            self.add_error("client_secret", error)
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # Django API the stubs leave out
        # The admin lists client_secret among the form's fields, so the typed value (or
        # "") lands on the instance; put the stored one back. The typed secret goes only
        # through the service (the admin's save_model), where empty means "keep".
        self.instance.client_secret = self._stored_secret
