"""Mapped users and domains carry their route's company account.

Spec 2.1: two accounts may hold rows for the same address (one of them stale, mapped
before the other verified the domain), so uniqueness becomes per account and the
cross-account rule moves to ``onboarding.services``. A trigger keeps ``tenant`` equal
to the route's, as Django has no composite foreign keys.
"""

import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

TABLES = ("onboarding_mappeduser", "onboarding_mappeddomain")


def copy_tenants(apps, schema_editor):
    Route = apps.get_model("onboarding", "Route")
    for name in ("MappedUser", "MappedDomain"):
        model = apps.get_model("onboarding", name)
        model.objects.update(
            tenant_id=Subquery(Route.objects.filter(pk=OuterRef("route_id")).values("tenant_id")[:1])
        )


POSTGRES = """
CREATE OR REPLACE FUNCTION onboarding_mapping_check_tenant() RETURNS trigger AS $$
BEGIN
    IF (SELECT tenant_id FROM onboarding_route WHERE id = NEW.route_id)
            IS DISTINCT FROM NEW.tenant_id THEN
        RAISE EXCEPTION 'mapping belongs to another tenant than its route' USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES)
    for table in TABLES:
        if vendor == "sqlite":
            for op in ("INSERT", "UPDATE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_tenant_{op.lower()} BEFORE {op} ON {table} "
                    "WHEN (SELECT tenant_id FROM onboarding_route WHERE id = NEW.route_id) "
                    "IS NOT NEW.tenant_id BEGIN SELECT RAISE(ABORT, "
                    "'mapping belongs to another tenant than its route'); END;"
                )
        elif vendor == "postgresql":
            schema_editor.execute(
                f"CREATE TRIGGER {table}_tenant BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION onboarding_mapping_check_tenant();"
            )
        else:
            raise NotImplementedError(f"No tenant-consistency triggers for {vendor!r}.")


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "sqlite":
            for op in ("insert", "update"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_tenant_{op}")
        elif vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_tenant ON {table}")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS onboarding_mapping_check_tenant()")


def _tenant_field(null: bool) -> models.ForeignKey:
    return models.ForeignKey(
        editable=False,
        null=null,
        help_text="The route's company account, kept with the row so uniqueness is per account.",
        on_delete=django.db.models.deletion.CASCADE,
        related_name="+",
        to="tenants.tenant",
        verbose_name="company account",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("onboarding", "0004_company_account_label"),
        ("tenants", "0002_company_account_label"),
    ]

    operations = [
        migrations.AddField("mappeduser", "tenant", _tenant_field(null=True)),
        migrations.AddField("mappeddomain", "tenant", _tenant_field(null=True)),
        migrations.RunPython(copy_tenants, migrations.RunPython.noop),
        migrations.AlterField("mappeduser", "tenant", _tenant_field(null=False)),
        migrations.AlterField("mappeddomain", "tenant", _tenant_field(null=False)),
        migrations.RemoveConstraint("mappeduser", "mapped_user_unique_email"),
        migrations.RemoveConstraint("mappeddomain", "mapped_domain_unique_domain"),
        migrations.AddConstraint(
            model_name="mappeduser",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"),
                models.F("tenant"),
                name="mapped_user_unique_email_per_tenant",
                violation_error_message="This e-mail address is already mapped to a route.",
            ),
        ),
        migrations.AddConstraint(
            model_name="mappeddomain",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("domain"),
                models.F("tenant"),
                name="mapped_domain_unique_domain_per_tenant",
                violation_error_message="This domain is already mapped to a route.",
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
