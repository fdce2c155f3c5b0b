"""Existing mappings become pending claims of their company accounts (spec 2.1).

After this upgrade nothing routes until each company's domains are verified (or the
operator vouches for them with ``claim_domain --operator-verified``, or sets
``DOMAIN_VERIFICATION=off`` on a single-company install): the README says so.
"""

import secrets

from django.db import migrations


def _suffixes(domain):
    labels = domain.split(".")
    return {".".join(labels[i:]) for i in range(len(labels))}


def claim_existing(apps, schema_editor):
    MappedUser = apps.get_model("onboarding", "MappedUser")
    MappedDomain = apps.get_model("onboarding", "MappedDomain")
    CompanyDomain = apps.get_model("domains", "CompanyDomain")
    wanted = {}
    for tenant_id, domain in MappedDomain.objects.values_list("tenant_id", "domain").iterator():
        wanted.setdefault(tenant_id, set()).add(domain)
    for tenant_id, email in MappedUser.objects.values_list("tenant_id", "email").iterator():
        wanted.setdefault(tenant_id, set()).add(email.rpartition("@")[2])
    for tenant_id, domains in wanted.items():
        # The widest names only: example.com covers mail.example.com.
        roots = {d for d in domains if not (_suffixes(d) - {d}) & domains}
        CompanyDomain.objects.bulk_create(
            CompanyDomain(tenant_id=tenant_id, domain=d, token=secrets.token_urlsafe(24))
            for d in sorted(roots)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("domains", "0001_initial"),
        ("onboarding", "0005_mapping_tenant"),
    ]

    operations = [migrations.RunPython(claim_existing, migrations.RunPython.noop)]
