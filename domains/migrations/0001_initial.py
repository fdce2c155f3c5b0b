import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models

import domains.models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tenants", "0002_company_account_label"),
    ]

    operations = [
        migrations.CreateModel(
            name="CompanyDomain",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("domain", models.CharField(help_text="A DNS name your company owns, such as example.com. Once verified, it covers its subdomains too.", max_length=253)),
                ("status", models.CharField(choices=[("pending", "Pending: publish the TXT record, then verify"), ("verified", "Verified"), ("suspended", "Suspended: the TXT record disappeared")], default="pending", max_length=10)),
                ("token", models.CharField(default=domains.models.new_token, editable=False, max_length=64)),
                ("method", models.CharField(blank=True, choices=[("dns", "DNS TXT record"), ("operator", "Vouched for by the platform operator")], editable=False, max_length=10)),
                ("verified_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("proof_seen_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("checked_at", models.DateTimeField(blank=True, editable=False, null=True, verbose_name="last checked")),
                ("detail", models.TextField(blank=True, editable=False, help_text="What DNS answered at the last check.", verbose_name="last check")),
                ("evidence", models.TextField(blank=True, editable=False, help_text="What proved the claim when it was verified.")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("tenant", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="domains", to="tenants.tenant", verbose_name="company account")),
            ],
            options={
                "verbose_name": "company domain",
                "ordering": ["domain"],
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "domain"), name="company_domain_unique_per_tenant", violation_error_message="This company account has already claimed this domain."),
                    models.UniqueConstraint(condition=models.Q(("status", "verified")), fields=("domain",), name="company_domain_one_verified", violation_error_message="This domain is verified by another company account."),
                    models.CheckConstraint(condition=models.Q(("domain", django.db.models.functions.text.Lower("domain"))), name="company_domain_lowercase"),
                    models.CheckConstraint(condition=models.Q(("status__in", ["pending", "verified", "suspended"])), name="company_domain_status_valid"),
                ],
            },
        ),
    ]
