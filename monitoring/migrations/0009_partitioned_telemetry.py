"""Runs, steps, scores, escalations and agent-map edges become tables partitioned by UTC day.

Each table is rebuilt as a partitioned one (``monitoring.storage.partitions.convert``): a day
partition per day holding rows, a default partition, then the rows copied in id chunks of 200 000
(each chunk its own transaction: the migration is not atomic, and an interrupted run resumes the
copy). Unique keys gain the partition column; the run's trace id becomes a plain index (the write
path keeps it unique under a per-trace advisory lock); references to runs and escalations lose their
database constraint (see the module docstring of ``partitions``). Days ahead are prepared last.

Works on an empty database and on the embedded demo PostgreSQL alike (declarative partitioning, no
extension). The reverse is not supported: restore a backup instead.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

ORDER = ("monitoring_run", "monitoring_step", "monitoring_score", "monitoring_escalation", "monitoring_interactionedge")


def partition(apps, schema_editor):
    from monitoring.storage import partitions, services

    trace_index = schema_editor._create_index_name("monitoring_run", ["trace_id"])
    with schema_editor.connection.cursor() as cursor:
        for table in ORDER:
            demote = {"monitoring_run_trace_id_key": trace_index} if table == "monitoring_run" else {}
            partitions.convert(cursor, table, demote_unique=demote)
    services.ensure_partitions()


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('agentops', '0003_prompt_rollout'),
        ('monitoring', '0008_promptdraftcase_to_insights'),
    ]

    operations = [
        migrations.AddField(
            model_name='score',
            name='occurred_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunSQL(
            "UPDATE monitoring_score s SET occurred_at = r.started_at FROM monitoring_run r WHERE r.id = s.run_id",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partition)],
            state_operations=[
                migrations.RemoveConstraint(model_name='escalation', name='escalation_unique_span'),
                migrations.RemoveConstraint(model_name='interactionedge', name='edge_unique_per_run'),
                migrations.RemoveConstraint(model_name='score', name='score_unique_key'),
                migrations.RemoveConstraint(model_name='step', name='step_unique_span'),
                migrations.AlterField(
                    model_name='escalation', name='run',
                    field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='escalations', to='monitoring.run'),
                ),
                migrations.AlterField(
                    model_name='interactionedge', name='run',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='edges', to='monitoring.run'),
                ),
                migrations.AlterField(
                    model_name='run', name='trace_id',
                    field=models.CharField(db_index=True, max_length=32),
                ),
                migrations.AlterField(
                    model_name='score', name='run',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='scores', to='monitoring.run'),
                ),
                migrations.AlterField(
                    model_name='step', name='run',
                    field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='monitoring.run'),
                ),
                migrations.AddConstraint(
                    model_name='escalation',
                    constraint=models.UniqueConstraint(fields=('trace_id', 'span_id', 'occurred_at'), name='escalation_unique_span'),
                ),
                migrations.AddConstraint(
                    model_name='interactionedge',
                    constraint=models.UniqueConstraint(fields=('run', 'source', 'target_kind', 'target_name', 'started_at'), name='edge_unique_per_run'),
                ),
                migrations.AddConstraint(
                    model_name='score',
                    constraint=models.UniqueConstraint(fields=('run', 'dedupe_key', 'occurred_at'), name='score_unique_key'),
                ),
                migrations.AddConstraint(
                    model_name='step',
                    constraint=models.UniqueConstraint(fields=('trace_id', 'span_id', 'started_at'), name='step_unique_span'),
                ),
            ],
        ),
    ]
