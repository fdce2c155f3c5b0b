"""Database triggers: a route's identity provider and certificate chain belong to its tenant.

Django has no composite foreign keys, so without these a bug or a race in any entry
point could point one company's route at another company's IdP or chain.
"""

from django.db import migrations

_CHECKS = [
    ("identity_provider_id", "identity_identityprovider", "route identity provider belongs to another tenant"),
    ("certificate_chain_id", "certificates_certificatechain", "route certificate chain belongs to another tenant"),
]


def _sqlite(op: str) -> list[str]:
    statements = []
    for column, table, message in _CHECKS:
        name = f"route_{column}_tenant_{op.lower()}"
        statements.append(
            f"CREATE TRIGGER {name} BEFORE {op} ON onboarding_route "
            f"WHEN (SELECT tenant_id FROM {table} WHERE id = NEW.{column}) IS NOT NEW.tenant_id "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
        )
    return statements


POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION onboarding_route_check_tenant() RETURNS trigger AS $$
BEGIN
    IF (SELECT tenant_id FROM identity_identityprovider WHERE id = NEW.identity_provider_id)
            IS DISTINCT FROM NEW.tenant_id THEN
        RAISE EXCEPTION 'route identity provider belongs to another tenant' USING ERRCODE = '23514';
    END IF;
    IF (SELECT tenant_id FROM certificates_certificatechain WHERE id = NEW.certificate_chain_id)
            IS DISTINCT FROM NEW.tenant_id THEN
        RAISE EXCEPTION 'route certificate chain belongs to another tenant' USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER onboarding_route_check_tenant BEFORE INSERT OR UPDATE ON onboarding_route
    FOR EACH ROW EXECUTE FUNCTION onboarding_route_check_tenant();
"""


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in _sqlite("INSERT") + _sqlite("UPDATE"):
            schema_editor.execute(statement)
    elif vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION)
    else:
        raise NotImplementedError(f"No tenant-consistency triggers for database vendor {vendor!r}.")


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for column, _table, _message in _CHECKS:
            for op in ("insert", "update"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS route_{column}_tenant_{op}")
    elif vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS onboarding_route_check_tenant ON onboarding_route")
        schema_editor.execute("DROP FUNCTION IF EXISTS onboarding_route_check_tenant()")


class Migration(migrations.Migration):
    dependencies = [
        ("onboarding", "0001_initial"),
        ("identity", "0001_initial"),
        ("certificates", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
