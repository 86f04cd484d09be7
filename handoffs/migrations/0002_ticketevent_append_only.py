"""The ticket event log is append-only in the database too: UPDATE is refused by a trigger.

(DELETE stays possible only through the ticket's cascade; the application never deletes events.)
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION handoffs_ticketevent_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'handoffs_ticketevent is append-only (event %)', OLD.id;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER handoffs_ticketevent_append_only
    BEFORE UPDATE ON handoffs_ticketevent
    FOR EACH ROW EXECUTE FUNCTION handoffs_ticketevent_refuse_update();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS handoffs_ticketevent_append_only ON handoffs_ticketevent;
DROP FUNCTION IF EXISTS handoffs_ticketevent_refuse_update();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("handoffs", "0001_initial"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
