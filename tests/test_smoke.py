from onboarding.models import Route
from tests.factories import MappedDomainFactory, MappedUserFactory


def test_a_route_with_mappings_can_be_built_from_factories(db):
    user = MappedUserFactory(email="alice@example.com")
    MappedDomainFactory(route=user.route, domain="example.com")
    route = Route.objects.get()
    assert route.certificate_chain.certificates.count() == 2
    assert route.mapped_domains.get().domain == "example.com"
