"""Every page a customer reaches has the admin's look and a way on (issue 13, defects 5 and 10)."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_forbidden_page_is_styled_and_leads_back_to_the_admin_home(client, acme, bob):
    client.force_login(bob)  # an obs_admin may not rename the company account

    response = client.post(reverse("admin:tenants_tenant_change", args=[acme.pk]), {})

    page = response.content.decode()
    assert response.status_code == 403
    assert "unfold/css/styles.css" in page
    assert 'id="error-back"' in page and 'href="/admin/"' in page
    assert "role in the company account" in page


def test_view_site_opens_the_device_page_not_a_debug_404(client, bob):
    client.force_login(bob)

    home = client.get(reverse("admin:index")).content.decode()

    assert 'href="/device"' in home
    assert client.get("/device").status_code == 200


def test_every_page_names_an_icon_that_exists(client, bob):
    client.force_login(bob)

    admin_page = client.get(reverse("admin:onboarding_route_changelist")).content.decode()
    device_page = client.get("/device").content.decode()

    assert 'rel="icon"' in admin_page and 'rel="icon"' in device_page
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("/favicon.svg")
    assert finders.find("favicon.svg")  # served by runserver, whitenoise or the live server


def test_the_api_docs_show_request_fields_not_references(client):
    page = client.get("/api/v1/docs/").content.decode()

    assert "#/components/schemas/" not in page
    authorize = page.split("POST /api/v1/device/authorize", 2)[-1].split("<h3>Responses", 1)[0]
    assert "email" in authorize
