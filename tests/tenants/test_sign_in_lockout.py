"""Password sign-in to the admin is throttled per username and address (issue 15, #3)."""

from __future__ import annotations

import io

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def _sign_in(client, username, password, address="203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def _guess(client, username, times, address="203.0.113.7"):
    for n in range(times):
        _sign_in(client, username, f"wrong-{n}", address)


def test_after_the_failure_limit_even_the_right_password_is_refused(client, alice, settings):
    _guess(client, "alice", settings.AXES_FAILURE_LIMIT)
    locked = _sign_in(client, "alice", PASSWORD)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many wrong passwords" in page and "alice" in page
    assert "axes_reset_username" in page
    assert "_auth_user_id" not in client.session
    # The admin's look (its stylesheet and colours), not bare text.
    assert "unfold/css/styles.css" in page and "--color-primary-600" in page


def test_two_hundred_guesses_then_the_right_password_is_refused(client, alice):
    _guess(client, "alice", 200)
    assert _sign_in(client, "alice", PASSWORD).status_code == 429


def test_a_lock_out_holds_only_for_that_address(client, alice, settings):
    _guess(client, "alice", settings.AXES_FAILURE_LIMIT, address="203.0.113.66")
    assert _sign_in(client, "alice", PASSWORD, address="198.51.100.5").status_code == 302


def test_the_operator_unlocks_with_axes_reset_username(client, alice, settings):
    _guess(client, "alice", settings.AXES_FAILURE_LIMIT)
    call_command("axes_reset_username", "alice", stdout=io.StringIO())
    assert _sign_in(client, "alice", PASSWORD).status_code == 302


def test_the_operator_unlocks_in_the_admin(client, alice, operator, settings):
    _guess(client, "alice", settings.AXES_FAILURE_LIMIT)
    attempt = AccessAttempt.objects.get(username="alice")
    client.force_login(operator)
    response = client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "unlock", "_selected_action": [attempt.pk]},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    client.logout()
    assert _sign_in(client, "alice", PASSWORD).status_code == 302


def test_tenant_staff_cannot_see_or_clear_lock_outs(client, alice, carol, settings):
    _guess(client, "carol", settings.AXES_FAILURE_LIMIT)
    client.force_login(alice)
    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403
    assert AccessAttempt.objects.filter(username="carol").exists()
