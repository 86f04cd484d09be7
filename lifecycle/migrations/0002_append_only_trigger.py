"""The stage history is append-only at the database level too: UPDATE and DELETE are refused.

TRUNCATE (used by test database flushes) is a separate statement and is not blocked.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION lifecycle_stage_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'lifecycle_stageevent is append-only: % refused (record a new event instead)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER lifecycle_stage_event_append_only
    BEFORE UPDATE OR DELETE ON lifecycle_stageevent
    FOR EACH ROW EXECUTE FUNCTION lifecycle_stage_event_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS lifecycle_stage_event_append_only ON lifecycle_stageevent;
DROP FUNCTION IF EXISTS lifecycle_stage_event_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
