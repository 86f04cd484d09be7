"""The assumptions ledger is append-only at the database level too: UPDATE and DELETE are refused.

TRUNCATE (used by test database flushes) is a separate statement and is not blocked.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION roi_assumption_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'roi_assumptionrow is append-only: % refused (record a new row instead)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER roi_assumption_append_only
    BEFORE UPDATE OR DELETE ON roi_assumptionrow
    FOR EACH ROW EXECUTE FUNCTION roi_assumption_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS roi_assumption_append_only ON roi_assumptionrow;
DROP FUNCTION IF EXISTS roi_assumption_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("roi", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
