"""The invitation page: an invited person chooses their password (``tenants.invitations``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from tenants import invitations


class SetPasswordForm(forms.Form):
    password1 = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=gettext_lazy("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data and data.get("password1") != data.get("password2"):
            raise ValidationError(gettext("The two passwords differ."))
        return data


@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    found = invitations.invitation_for_token(token)
    if found is None:
        return render(
            request,
            "tenants/invitation.html",
            {"invalid": gettext(invitations.LINK_INVALID)},
            status=400,
        )
    form = SetPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitations.invitation_accept(
                token=token, password=form.cleaned_data["password1"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # The person signs in like anyone else (and django-axes counts it).
            del user
            return redirect("/admin/login/?next=/admin/")
    return render(
        request,
        "tenants/invitation.html",
        {"form": form, "membership": found.membership},
        status=200 if request.method == "GET" or form.is_valid() else 400,
    )
