"""Input and output serializers of the device API (shapes in spec section 3).

Inputs refuse what is not a string rather than converting it; outputs are the shapes
the OpenAPI document shows.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from onboarding.device_flow import DEVICE_CODE_GRANT


class TextField(serializers.CharField):
    """A string and nothing else: numbers, booleans, lists are refused, not converted.

    DRF's CharField already refuses NUL and lone surrogates (PostgreSQL could not store
    them, which would otherwise become a 500).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        checks: list[Any] = [
            _SurrogateCheck() if isinstance(v, ProhibitSurrogateCharactersValidator) else v
            for v in self.validators  # type: ignore[has-type]
        ]
        self.validators = checks

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class _SurrogateCheck(ProhibitSurrogateCharactersValidator):
    """DRF's check, character by character in Python, only for text that is not ASCII:
    an ID token is some 2,000 ASCII characters, and the loop cost more than the rest of
    validating the body."""

    def __call__(self, value: Any) -> None:
        if not str(value).isascii():
            super().__call__(value)


def _device_field(label: str) -> TextField:
    return TextField(
        max_length=128,
        required=False,
        allow_blank=True,
        allow_null=True,
        default="",
        help_text=f"The device's {label}, as it reports it; at most 128 characters.",
    )


class DeviceSerializer(serializers.Serializer):
    hostname = _device_field("hostname")
    serial = _device_field("serial number")
    model = _device_field("model")
    os_version = _device_field("IGEL OS version")


class AuthorizeInputSerializer(serializers.Serializer):
    email = TextField(
        min_length=1, help_text="The user's e-mail address; decides the route and the IdP."
    )
    structure_tag = TextField(
        max_length=128, required=False, allow_blank=True, allow_null=True, default=""
    )
    device = DeviceSerializer(required=False, allow_null=True)


class AuthorizeFormSerializer(serializers.Serializer):
    """The same request form-encoded; the device fields are flattened."""

    email = TextField(min_length=1)
    structure_tag = TextField(max_length=128, required=False, allow_blank=True)
    device_hostname = _device_field("hostname")
    device_serial = _device_field("serial number")
    device_model = _device_field("model")
    device_os_version = _device_field("IGEL OS version")


class AuthorizeOutputSerializer(serializers.Serializer):
    device_code = serializers.CharField(
        help_text="Secret; the device polls the token endpoint with it."
    )
    user_code = serializers.CharField(help_text="8 characters shown as XXXX-XXXX.")
    verification_uri = serializers.URLField()
    verification_uri_complete = serializers.URLField()
    expires_in = serializers.IntegerField(help_text="Seconds until the codes expire.")
    interval = serializers.IntegerField(help_text="Minimum seconds between two polls.")


class TokenInputSerializer(serializers.Serializer):
    grant_type = serializers.ChoiceField(choices=[DEVICE_CODE_GRANT])
    device_code = TextField(min_length=1, max_length=512)


class LookupInputSerializer(serializers.Serializer):
    id_token = TextField(
        allow_blank=True,
        help_text="An ID token from the tenant's IdP, issued for this service's client ID.",
    )
    access_token = TextField(
        max_length=4096,
        required=False,
        allow_blank=True,
        allow_null=True,
        default="",
        help_text=(
            "Optional: the access token issued together with the ID token. Used only when "
            "the ID token carries no e-mail (as a conformant IdP's code flow may), to read "
            "it from the IdP's UserInfo endpoint, whose `sub` must equal the ID token's."
        ),
    )
    structure_tag = TextField(
        max_length=128, required=False, allow_blank=True, allow_null=True, default=""
    )


class OnboardingSerializer(serializers.Serializer):
    display_name = serializers.CharField()
    ums_hostname = serializers.CharField(help_text="Exactly as configured; case is significant.")
    ums_port = serializers.IntegerField(min_value=1, max_value=65535)
    target = serializers.ChoiceField(choices=["ums", "icg"])
    root_certificate_chain = serializers.CharField(help_text="PEM, root certificate first.")
    certificate_fingerprints_sha256 = serializers.ListField(
        child=serializers.CharField(),
        help_text="SHA-256 of each certificate, AB:CD:... form, root first.",
    )
    user = serializers.CharField(help_text="The signed-in user's e-mail address.")
    structure_tag = serializers.CharField(allow_blank=True)


class OnboardingAnswerSerializer(serializers.Serializer):
    """An RFC 6749 section 5.1 token response around the route, so OAuth clients accept it."""

    access_token = serializers.CharField(
        help_text=(
            "The onboarding assertion: a JWT signed by this service (ES256 or RS256, `kid` "
            "from /.well-known/jwks.json) stating who was onboarded to which UMS. Claims: "
            "`iss` (this service), `sub` (the user's e-mail), `aud` (the UMS hostname), `iat`, "
            "`exp`, `jti`, `tenant`, `display_name`, `ums_port`, `target`, "
            "`certificate_fingerprints_sha256` (root first), `device` (`hostname`, `serial`, "
            "`model`, `os_version`), `structure_tag`, `idp` (issuer of the IdP that "
            "authenticated the user). Present it to the UMS; see docs/ums-verification.md."
        )
    )
    token_type = serializers.ChoiceField(choices=["Bearer"])
    expires_in = serializers.IntegerField(help_text="Seconds until the assertion expires.")
    onboarding = OnboardingSerializer()
