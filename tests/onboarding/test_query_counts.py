"""The device endpoints are the hot path: each answer costs a fixed, small number of queries.

The bounds count what each answer needs (routing, the conditional UPDATE, the event
INSERT, the savepoint around the device-code INSERT); anything more is a lazy load
or a prefetch that the answer does not use.
"""

from __future__ import annotations

import pytest

from onboarding.models import DeviceAuthorization
from tests.onboarding.conftest import LOOKUP, confirm, post_json, sign_in

pytestmark = pytest.mark.django_db


def test_starting_onboarding_reads_the_route_once_and_no_certificates(
    device, acme_route, django_assert_max_num_queries
):
    # route, savepoint, INSERT device authorization, INSERT event, release (in a test's
    # transaction; in production: the route, then both INSERTs in one transaction)
    with django_assert_max_num_queries(5):
        assert device.authorize().status_code == 200


@pytest.mark.django_db(transaction=True)
def test_starting_onboarding_writes_once_in_one_transaction(client, acme_route):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.onboarding.conftest import Device

    with CaptureQueriesContext(connection) as queries:
        assert Device(client).authorize().status_code == 200
    kinds = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    # The route; then the authorization and its event, committed together.
    writes = [k for k in kinds if k not in ("SELECT", "BEGIN", "COMMIT")]
    assert kinds.count("SELECT") == 1 and writes == ["INSERT", "INSERT"]
    assert kinds.count("BEGIN") <= 1 and kinds.count("SAVEPOINT") == 0


def test_a_pending_poll_costs_no_query(device, acme_route, django_assert_num_queries):
    device.authorize()
    with django_assert_num_queries(0):
        assert device.poll().json()["error"] == "authorization_pending"


def test_a_successful_poll_loads_the_tenant_only_with_the_route(
    client, device, acme_route, idp, django_assert_max_num_queries
):
    device.authorize()
    sign_in(client, device)
    DeviceAuthorization.objects.update(last_polled_at=None)
    # read, UPDATE last poll, route, fingerprints, UPDATE consumed, INSERT event
    with django_assert_max_num_queries(6):
        assert device.poll().status_code == 200


def test_a_refused_poll_records_its_event_without_loading_tenant_or_route(
    client, device, acme_route, django_assert_num_queries
):
    device.authorize()
    confirm(client, device.started["user_code"], decision="reject")
    DeviceAuthorization.objects.update(last_polled_at=None)
    with django_assert_num_queries(2):  # read, INSERT event
        assert device.poll().json()["error"] == "access_denied"


def test_a_used_device_code_is_refused_in_two_queries(
    client, device, acme_route, idp, django_assert_num_queries
):
    device.authorize()
    sign_in(client, device)
    DeviceAuthorization.objects.update(last_polled_at=None)
    assert device.poll().status_code == 200
    with django_assert_num_queries(2):  # read, INSERT event
        assert device.poll().json()["error"] == "expired_token"


def test_a_lookup_costs_the_idp_the_route_its_fingerprints_and_the_event(
    client, acme_route, idp, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        response = post_json(client, LOOKUP, {"id_token": idp.id_token()})
    assert response.status_code == 200


def test_a_warm_lookup_costs_the_route_and_the_event_only(
    client, acme_route, idp, django_assert_num_queries
):
    # IdP candidates come from the shared cache, chain fingerprints from the process.
    for _ in range(2):  # a generation token, then the candidates cached under it
        assert post_json(client, LOOKUP, {"id_token": idp.id_token()}).status_code == 200
    with django_assert_num_queries(2):
        response = post_json(client, LOOKUP, {"id_token": idp.id_token()})
    assert response.status_code == 200
