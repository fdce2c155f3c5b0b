"""factory-boy factories for every model; certificate chains hold real certificates."""

from __future__ import annotations

import hashlib

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from certificates.models import CertificateChain
from certificates.services import chain_create
from common.validators import email_domain
from domains.models import CompanyDomain, DomainStatus, VerificationMethod
from domains.selectors import holder
from identity.models import IdentityProvider, IdPKind, issuer_key
from onboarding.models import MappedDomain, MappedUser, OnboardingEvent, Route
from tenants.models import Activation, Membership, Role, Tenant
from tests import pki


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")
    is_staff = True


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda t: t.slug.replace("-", " ").title())


class ActivationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activation

    tenant = factory.SubFactory(TenantFactory)
    activated_by_email = "activator@example.com"


class ActiveTenantFactory(TenantFactory):
    class Meta:
        skip_postgeneration_save = True

    activation = factory.RelatedFactory(ActivationFactory, factory_related_name="tenant")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(ActiveTenantFactory)
    user = factory.SubFactory(UserFactory)
    email = factory.LazyAttribute(
        lambda m: m.user.email.lower() if m.user else "invitee@example.com"
    )
    role = Role.OBS_ADMIN


class IdentityProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdentityProvider

    tenant = factory.SubFactory(ActiveTenantFactory)
    name = factory.Sequence(lambda n: f"IdP {n}")
    kind = IdPKind.OIDC
    client_id = factory.Sequence(lambda n: f"client-{n}")
    client_secret = "s3cret-value"
    issuer = factory.Sequence(lambda n: f"https://idp{n}.example.com")

    @classmethod
    def _create(
        cls, model_class: type[IdentityProvider], *args: object, **kwargs: object
    ) -> IdentityProvider:
        idp = model_class(*args, **kwargs)
        idp.resolved_issuer = issuer_key(idp.effective_issuer)  # what clean() would store
        idp.save()
        return idp


def _chain_file(chain: CertificateChain) -> ContentFile:
    return ContentFile(chain.pem.encode(), name=chain.original_filename or "chain.pem")


class CertificateChainFactory(factory.django.DjangoModelFactory):
    """A chain of a real root and intermediate, stored like an upload."""

    class Meta:
        model = CertificateChain
        skip_postgeneration_save = True

    class Params:
        issued = factory.LazyFunction(lambda: pki.chain(intermediates=1))

    tenant = factory.SubFactory(ActiveTenantFactory)
    name = factory.Sequence(lambda n: f"Chain {n}")
    original_filename = "chain.pem"
    pem = factory.LazyAttribute(lambda c: pki.pem_bundle(c.issued))
    sha256 = factory.LazyAttribute(lambda c: hashlib.sha256(c.pem.encode()).hexdigest())
    file = factory.LazyAttribute(_chain_file)

    @classmethod
    def _create(
        cls, model_class: type[CertificateChain], *args: object, **kwargs: object
    ) -> CertificateChain:
        # Stored through the upload service, so tests see exactly what an upload makes.
        pem = str(kwargs["pem"])
        return chain_create(
            tenant=kwargs["tenant"],
            name=str(kwargs["name"]),
            data=pem.encode(),
            filename=str(kwargs.get("original_filename") or "chain.pem"),
            uploaded_by=kwargs.get("uploaded_by"),
            target=str(kwargs.get("target", "ums")),
        )


class RouteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Route

    tenant = factory.SubFactory(ActiveTenantFactory)
    display_name = factory.Sequence(lambda n: f"UMS {n}")
    ums_hostname = factory.Sequence(lambda n: f"UMS{n}.Example.com")
    ums_port = 8443
    target = "ums"
    identity_provider = factory.SubFactory(
        IdentityProviderFactory, tenant=factory.SelfAttribute("..tenant")
    )
    certificate_chain = factory.SubFactory(
        CertificateChainFactory, tenant=factory.SelfAttribute("..tenant")
    )
    enabled = True


class CompanyDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CompanyDomain
        django_get_or_create = ("tenant", "domain")

    tenant = factory.SubFactory(ActiveTenantFactory)
    domain = factory.Sequence(lambda n: f"company{n}.example")
    status = DomainStatus.PENDING


class VerifiedDomainFactory(CompanyDomainFactory):
    status = DomainStatus.VERIFIED
    method = VerificationMethod.OPERATOR
    verified_at = factory.LazyFunction(timezone.now)
    proof_seen_at = factory.LazyFunction(timezone.now)


def _verify_for_route(mapping: MappedUser | MappedDomain, domain: str) -> None:
    # Most tests are about routing, not about proving domains: a mapping made by a
    # factory routes unless the test says ``verify_domain=False`` (or the domain is
    # already another company's, as in the tests of spec 2.1).
    if holder(domain) is None:
        VerifiedDomainFactory(tenant=mapping.route.tenant, domain=domain)


class MappedUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MappedUser
        skip_postgeneration_save = True

    route = factory.SubFactory(RouteFactory)
    tenant = factory.SelfAttribute("route.tenant")
    email = factory.Sequence(lambda n: f"person{n}@example.com")

    @factory.post_generation
    def verify_domain(self, create: bool, extracted: bool | None, **kwargs: object) -> None:
        if create and extracted is not False:
            _verify_for_route(self, email_domain(self.email))


class OnboardingEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OnboardingEvent

    tenant = factory.SubFactory(ActiveTenantFactory)
    action = "authorize"
    result = "failure"
    reason = "no_route"
    email = factory.Sequence(lambda n: f"someone{n}@example.com")


class MappedDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MappedDomain
        skip_postgeneration_save = True

    route = factory.SubFactory(RouteFactory)
    tenant = factory.SelfAttribute("route.tenant")
    domain = factory.Sequence(lambda n: f"domain{n}.example")

    @factory.post_generation
    def verify_domain(self, create: bool, extracted: bool | None, **kwargs: object) -> None:
        if create and extracted is not False:
            _verify_for_route(self, self.domain)
