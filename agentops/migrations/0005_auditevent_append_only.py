"""The audit log is append-only in the database too: UPDATE and DELETE are refused by a trigger."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION agentops_auditevent_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'agentops_auditevent is append-only (event %)', OLD.id;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER agentops_auditevent_append_only
    BEFORE UPDATE OR DELETE ON agentops_auditevent
    FOR EACH ROW EXECUTE FUNCTION agentops_auditevent_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS agentops_auditevent_append_only ON agentops_auditevent;
DROP FUNCTION IF EXISTS agentops_auditevent_refuse_change();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("agentops", "0004_security_scopes_audit"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
