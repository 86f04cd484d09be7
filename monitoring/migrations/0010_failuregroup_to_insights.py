# FailureGroup (the operator's annotation of a failure fingerprint) now belongs to the insights app,
# which renames its table and points its root cause at handoffs' taxonomy (insights 0002); here the
# model only leaves monitoring's migration state.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0009_partitioned_telemetry'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='FailureGroup')],
            database_operations=[],
        ),
    ]
