"""Proving a company domain by DNS TXT record, against a real DNS server on loopback."""

from __future__ import annotations

import datetime
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from domains import dnsquery
from domains.models import CompanyDomain, DomainStatus, VerificationMethod
from domains.selectors import holder
from domains.services import domain_check, domain_claim, domain_verify_by_operator
from tests.dns_server import silent_dns_server
from tests.domains.conftest import publish_proof

pytestmark = pytest.mark.django_db


def claim_for(tenant, domain="acme.example") -> CompanyDomain:
    return domain_claim(tenant=tenant, domain=domain)[0]


def test_a_claim_has_its_own_random_token_of_at_least_128_bits(acme, globex):
    mine, theirs = claim_for(acme), claim_for(globex)
    assert mine.token != theirs.token
    assert len(mine.token) * 6 >= 128  # URL-safe base64: 6 bits a character
    assert mine.record_name == "_obs-challenge.acme.example"
    assert mine.record_value == f"obs-domain-verification={mine.token}"


def test_claiming_again_gives_the_same_record(acme):
    first, created = domain_claim(tenant=acme, domain="ACME.example")
    again, created_again = domain_claim(tenant=acme, domain="acme.example")
    assert (created, created_again) == (True, False)
    assert again.token == first.token and first.domain == "acme.example"


def test_an_idn_domain_is_claimed_in_its_a_label_form(acme):
    assert claim_for(acme, "bücher.example").domain == "xn--bcher-kva.example"


def test_the_published_record_verifies_the_claim(acme, zone):
    claim = claim_for(acme)
    publish_proof(zone, claim)
    result = domain_check(claim=claim)
    claim.refresh_from_db()
    assert claim.status == DomainStatus.VERIFIED
    assert claim.method == VerificationMethod.DNS
    assert claim.verified_at and claim.checked_at and claim.proof_seen_at
    assert claim.record_value in claim.evidence
    assert result.answer is not None and result.answer.kind == dnsquery.FOUND


def test_a_record_split_into_several_strings_is_joined(acme, zone):
    claim = claim_for(acme)
    value = claim.record_value
    zone.publish(claim.record_name, value[:10], value[10:30], value[30:])
    assert domain_check(claim=claim).claim.status == DomainStatus.VERIFIED


def test_a_wrong_value_leaves_the_claim_pending_and_says_what_dns_answered(acme, zone):
    claim = claim_for(acme)
    zone.publish(claim.record_name, "obs-domain-verification=someone-elses-token")
    zone.publish(claim.record_name, "v=spf1 -all")
    checked = domain_check(claim=claim).claim
    assert checked.status == DomainStatus.PENDING
    assert "someone-elses-token" in checked.detail and "was not found" in checked.detail


def test_another_companys_token_does_not_verify_this_claim(acme, globex, zone):
    mine, theirs = claim_for(acme), claim_for(globex)
    publish_proof(zone, theirs)
    assert domain_check(claim=mine).claim.status == DomainStatus.PENDING
    assert domain_check(claim=theirs).claim.status == DomainStatus.VERIFIED


def test_an_answer_too_large_for_udp_is_read_over_tcp(acme, zone):
    claim = claim_for(acme)
    for n in range(8):
        zone.publish(claim.record_name, f"filler-{n}-" + "x" * 90)
    publish_proof(zone, claim)
    assert domain_check(claim=claim).claim.status == DomainStatus.VERIFIED
    assert zone.queries["tcp"] >= 1


def test_nxdomain_is_reported_as_such(acme, zone):
    checked = domain_check(claim=claim_for(acme)).claim
    assert checked.status == DomainStatus.PENDING
    assert "does not exist (NXDOMAIN)" in checked.detail


def test_a_name_without_txt_records_is_reported_as_such(acme, zone):
    zone.existing.add("acme.example")
    checked = domain_check(claim=claim_for(acme)).claim
    assert "has no TXT record" in checked.detail


def test_servfail_is_reported_and_leaves_a_pending_claim_pending(acme, zone):
    claim = claim_for(acme)
    zone.servfail.add(claim.record_name)
    result = domain_check(claim=claim)
    assert not result.inconclusive and not result.answer.unreachable
    assert "SERVFAIL" in result.claim.detail
    assert result.claim.status == DomainStatus.PENDING


def test_a_verified_domain_whose_dns_keeps_failing_is_suspended_after_the_grace_period(acme, zone):
    claim = verified_by_dns(acme, zone)
    zone.servfail.add(claim.record_name)
    assert domain_check(claim=claim).claim.status == DomainStatus.VERIFIED  # within grace
    CompanyDomain.objects.filter(pk=claim.pk).update(
        proof_seen_at=timezone.now() - datetime.timedelta(days=8)
    )
    claim.refresh_from_db()
    assert domain_check(claim=claim).claim.status == DomainStatus.SUSPENDED


def test_a_cname_loop_is_an_error_not_a_hang(acme, zone):
    claim = claim_for(acme)
    zone.cname[claim.record_name] = "loop.acme.example"
    zone.cname["loop.acme.example"] = claim.record_name
    result = domain_check(claim=claim)
    assert result.claim.status == DomainStatus.PENDING
    assert result.answer is not None and result.answer.kind != dnsquery.FOUND


def test_a_cname_to_the_proof_is_followed(acme, zone):
    claim = claim_for(acme)
    zone.cname[claim.record_name] = "proofs.dns-host.example"
    zone.publish("proofs.dns-host.example", claim.record_value)
    assert domain_check(claim=claim).claim.status == DomainStatus.VERIFIED


def test_a_resolver_that_never_answers_times_out_without_changing_anything(acme, settings):
    claim = claim_for(acme)
    with silent_dns_server() as address:
        settings.DOMAIN_VERIFICATION_NAMESERVERS = [address]
        settings.DOMAIN_VERIFICATION_TIMEOUT = 0.5
        started = timezone.now()
        result = domain_check(claim=claim)
    assert (timezone.now() - started).total_seconds() < 5
    assert result.answer is not None and result.answer.kind == dnsquery.TIMEOUT
    assert result.answer.unreachable and "in time" in result.claim.detail
    assert result.claim.status == DomainStatus.PENDING


def verified_by_dns(tenant, zone, domain="acme.example") -> CompanyDomain:
    claim = claim_for(tenant, domain)
    publish_proof(zone, claim)
    claim = domain_check(claim=claim).claim
    assert claim.status == DomainStatus.VERIFIED
    return claim


def test_a_removed_record_keeps_the_domain_verified_for_the_grace_period(acme, zone):
    claim = verified_by_dns(acme, zone)
    zone.remove(claim.record_name)
    checked = domain_check(claim=claim).claim
    assert checked.status == DomainStatus.VERIFIED
    assert "stays verified until" in checked.detail


def test_after_the_grace_period_a_removed_record_suspends_the_domain(acme, zone, settings):
    settings.DOMAIN_VERIFICATION_GRACE_DAYS = 7
    claim = verified_by_dns(acme, zone)
    CompanyDomain.objects.filter(pk=claim.pk).update(
        proof_seen_at=timezone.now() - datetime.timedelta(days=7, minutes=1)
    )
    zone.remove(claim.record_name)
    claim.refresh_from_db()
    assert domain_check(claim=claim).claim.status == DomainStatus.SUSPENDED
    claim.refresh_from_db()
    assert claim.status == DomainStatus.SUSPENDED


def test_a_timeout_after_the_grace_period_does_not_suspend(acme, zone, settings):
    claim = verified_by_dns(acme, zone)
    CompanyDomain.objects.filter(pk=claim.pk).update(
        proof_seen_at=timezone.now() - datetime.timedelta(days=30)
    )
    claim.refresh_from_db()
    with silent_dns_server() as address:
        settings.DOMAIN_VERIFICATION_NAMESERVERS = [address]
        settings.DOMAIN_VERIFICATION_TIMEOUT = 0.3
        assert domain_check(claim=claim).claim.status == DomainStatus.VERIFIED


def test_a_suspended_domain_whose_record_returns_is_verified_again(acme, zone):
    claim = verified_by_dns(acme, zone)
    CompanyDomain.objects.filter(pk=claim.pk).update(status=DomainStatus.SUSPENDED)
    claim.refresh_from_db()
    assert domain_check(claim=claim).claim.status == DomainStatus.VERIFIED


def test_a_domain_verified_by_one_company_cannot_be_verified_by_another(acme, globex, zone):
    verified_by_dns(acme, zone)
    theirs = claim_for(globex)
    publish_proof(zone, theirs)  # they even manage to publish a record
    checked = domain_check(claim=theirs).claim
    assert checked.status == DomainStatus.PENDING
    assert "verified by another company account" in checked.detail
    assert "Acme" not in checked.detail


def test_nor_can_it_verify_a_subdomain_of_it(acme, globex, zone):
    verified_by_dns(acme, zone, "acme.example")
    claim = claim_for(globex, "eu.acme.example")
    publish_proof(zone, claim)
    assert domain_check(claim=claim).claim.status == DomainStatus.PENDING


def test_the_owner_of_a_parent_domain_can_verify_it_when_another_company_holds_a_subdomain(
    acme, globex, zone
):
    # A subsidiary (or a delegated zone) verified first: the parent's owner is not locked
    # out; each holds its own names, the more specific claim winning below it.
    verified_by_dns(globex, zone, "eu.acme.example")
    parent = verified_by_dns(acme, zone, "acme.example")
    assert parent.status == DomainStatus.VERIFIED
    assert holder("someone@acme.example".rpartition("@")[2])[0] == acme.pk
    assert holder("eu.acme.example")[0] == globex.pk
    assert holder("x.eu.acme.example")[0] == globex.pk


def test_the_operator_vouches_for_a_domain_and_the_evidence_is_kept(acme):
    claim = domain_verify_by_operator(claim=claim_for(acme), by="ops@example.com")
    assert claim.status == DomainStatus.VERIFIED
    assert claim.method == VerificationMethod.OPERATOR
    assert "ops@example.com" in claim.evidence


def test_the_operator_cannot_vouch_for_a_domain_another_company_holds(acme, globex):
    domain_verify_by_operator(claim=claim_for(acme), by="ops")
    with pytest.raises(Exception, match="verified by another company account"):
        domain_verify_by_operator(claim=claim_for(globex, "eu.acme.example"), by="ops")


# --- Commands -----------------------------------------------------------------------


def test_claim_domain_prints_the_record_and_again_the_same_one(acme, capsys):
    call_command("claim_domain", "acme", "Acme.example")
    first = capsys.readouterr().out
    call_command("claim_domain", "acme", "acme.example")
    again = capsys.readouterr().out
    claim = CompanyDomain.objects.get(tenant=acme)
    for out in (first, again):
        assert "_obs-challenge.acme.example" in out and claim.record_value in out
    assert "pending" in first and "Already claimed" in again


def test_claim_domain_with_the_operator_flag_verifies_at_once(acme, capsys):
    call_command("claim_domain", "acme", "acme.example", "--operator-verified")
    claim = CompanyDomain.objects.get(tenant=acme)
    assert (claim.status, claim.method) == (DomainStatus.VERIFIED, VerificationMethod.OPERATOR)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "acme.example"], "No company account with slug 'nosuch'"),
        (["acme", "not a domain"], "domain"),
        (["acme", "192.0.2.1"], "not an IP address"),
    ],
)
def test_claim_domain_refuses_bad_input_in_one_line(acme, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("claim_domain", *args)


def test_verify_domains_json_reports_every_claim(acme, globex, zone, capsys):
    verified = claim_for(acme)
    publish_proof(zone, verified)
    claim_for(globex, "globex.example")
    call_command("verify_domains", "--json")
    rows = {row["domain"]: row for row in json.loads(capsys.readouterr().out)["domains"]}
    assert rows["acme.example"]["status"] == "verified"
    assert rows["globex.example"]["status"] == "pending"
    assert "NXDOMAIN" in rows["globex.example"]["detail"]
    assert set(rows["acme.example"]) == {
        "tenant",
        "domain",
        "status",
        "record_name",
        "record_value",
        "checked_at",
        "detail",
    }
    assert rows["acme.example"]["tenant"] == "acme"
    assert rows["acme.example"]["record_name"] == "_obs-challenge.acme.example"


def test_verify_domains_of_one_company_checks_only_its_claims(acme, globex, zone, capsys):
    claim_for(acme)
    claim_for(globex, "globex.example")
    call_command("verify_domains", "globex", "--json")
    rows = json.loads(capsys.readouterr().out)["domains"]
    assert [row["domain"] for row in rows] == ["globex.example"]


def test_verify_domains_exits_non_zero_only_when_dns_cannot_be_asked(acme, settings, capsys):
    claim_for(acme)
    with silent_dns_server() as address:
        settings.DOMAIN_VERIFICATION_NAMESERVERS = [address]
        settings.DOMAIN_VERIFICATION_TIMEOUT = 0.3
        with pytest.raises(CommandError, match="could not be made"):
            call_command("verify_domains")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("192.0.2.53:5353", ("192.0.2.53", 5353)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
    ],
)
def test_nameservers_are_read_as_address_and_port(entry, expected):
    assert dnsquery.parse_nameserver(entry) == expected


@pytest.mark.parametrize("entry", ["dns.example.com", "192.0.2.53:0", "192.0.2.53:x", "[::1]x"])
def test_a_nameserver_that_is_not_address_port_is_refused(entry):
    with pytest.raises(dnsquery.NameserverSettingError):
        dnsquery.parse_nameserver(entry)


def test_a_resolver_given_by_name_is_a_start_up_error(settings):
    from django.core.checks import run_checks

    settings.DOMAIN_VERIFICATION_NAMESERVERS = ["dns.example.com"]
    assert [e.id for e in run_checks() if e.id.startswith("domains.")] == ["domains.E001"]
