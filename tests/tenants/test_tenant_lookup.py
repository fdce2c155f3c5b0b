"""How the one scoping rule finds a model's company account, knowing no app's field names."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from certificates.models import Certificate, CertificateChain
from identity.models import ExternalIdentity
from onboarding.models import MappedUser
from tenants.models import ALL_ROLES, Invitation, Tenant
from tenants.selectors import scope_queryset, tenant_lookup, tenant_of
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (Tenant, ""),
        (CertificateChain, "tenant"),
        # A key of its own wins over the way through its route.
        (MappedUser, "tenant"),
        (Certificate, "chain__tenant"),
        (Invitation, "membership__tenant"),
        # Users and log entries lead to no company account.
        (ExternalIdentity, None),
        (LogEntry, None),
    ],
    ids=lambda v: getattr(v, "__name__", repr(v)),
)
def test_the_path_to_the_tenant_follows_the_declared_relations(model, path):
    assert tenant_lookup(model) == path


def test_a_certificate_belongs_to_its_chains_account(acme):
    certificate = factories.CertificateChainFactory(tenant=acme).certificates.first()
    assert tenant_of(certificate) == acme


def test_members_see_only_their_own_accounts_invitations(alice, acme, globex):
    def invitation(tenant: Tenant) -> Invitation:
        return Invitation.objects.create(
            membership=factories.MembershipFactory(tenant=tenant),
            token_hash=f"{tenant.slug:0<64}",
            expires_at=timezone.now() + dt.timedelta(days=1),
        )

    own, _foreign = invitation(acme), invitation(globex)
    visible = scope_queryset(Invitation.objects.all(), alice, roles=ALL_ROLES)
    assert list(visible) == [own]
