# Agent invocations (monitoring.ingest.invocations), partitioned by day on started_at like the steps.
#
# The table is created plain with its key on (run, span_id) and converted by
# monitoring.storage.partitions.convert, which appends the partition column to unique keys (the
# model states the resulting key) and makes the primary key (id, started_at).

import django.db.models.deletion
from django.db import migrations, models


def partition(apps, schema_editor):
    from monitoring.storage import partitions, services

    with schema_editor.connection.cursor() as cursor:
        partitions.convert(cursor, "monitoring_invocation")
    services.ensure_partitions()


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('agentops', '0005_auditevent_append_only'),
        ('monitoring', '0014_inbox_restriction_and_key_index'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.CreateModel(
                    name='Invocation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('trace_id', models.CharField(max_length=32)),
                        ('span_id', models.CharField(max_length=16)),
                        ('parent_span_id', models.CharField(blank=True, max_length=16)),
                        ('name', models.CharField(blank=True, max_length=255)),
                        ('started_at', models.DateTimeField()),
                        ('ended_at', models.DateTimeField()),
                        ('duration_ms', models.FloatField(default=0)),
                        ('status', models.CharField(choices=[('ok', 'OK'), ('error', 'Error')], default='ok', max_length=8)),
                        ('error_type', models.CharField(blank=True, max_length=255)),
                        ('model', models.CharField(blank=True, max_length=120)),
                        ('prompt_version', models.CharField(blank=True, max_length=64)),
                        ('step_count', models.PositiveIntegerField(default=0)),
                        ('input_tokens', models.BigIntegerField(default=0)),
                        ('output_tokens', models.BigIntegerField(default=0)),
                        ('cost', models.DecimalField(decimal_places=6, default=0, max_digits=14)),
                        ('total_input_tokens', models.BigIntegerField(default=0)),
                        ('total_output_tokens', models.BigIntegerField(default=0)),
                        ('total_cost', models.DecimalField(decimal_places=6, default=0, max_digits=14)),
                        ('quality_score', models.FloatField(blank=True, null=True)),
                        ('escalations', models.PositiveIntegerField(default=0)),
                        ('agent', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='invocations', to='agentops.agent')),
                        ('caller_agent', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='agentops.agent')),
                        ('prompt', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='agentops.promptversion')),
                        ('run', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='invocations', to='monitoring.run')),
                    ],
                    options={
                        'indexes': [models.Index(fields=['agent', 'started_at'], name='invocation_agent_time_idx')],
                        'constraints': [models.UniqueConstraint(fields=('run', 'span_id'), name='invocation_unique_span')],
                    },
                ),
                migrations.RunPython(partition, migrations.RunPython.noop),
            ],
            state_operations=[
                migrations.CreateModel(
                    name='Invocation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('trace_id', models.CharField(max_length=32)),
                        ('span_id', models.CharField(max_length=16)),
                        ('parent_span_id', models.CharField(blank=True, max_length=16)),
                        ('name', models.CharField(blank=True, max_length=255)),
                        ('started_at', models.DateTimeField()),
                        ('ended_at', models.DateTimeField()),
                        ('duration_ms', models.FloatField(default=0)),
                        ('status', models.CharField(choices=[('ok', 'OK'), ('error', 'Error')], default='ok', max_length=8)),
                        ('error_type', models.CharField(blank=True, max_length=255)),
                        ('model', models.CharField(blank=True, max_length=120)),
                        ('prompt_version', models.CharField(blank=True, max_length=64)),
                        ('step_count', models.PositiveIntegerField(default=0)),
                        ('input_tokens', models.BigIntegerField(default=0)),
                        ('output_tokens', models.BigIntegerField(default=0)),
                        ('cost', models.DecimalField(decimal_places=6, default=0, max_digits=14)),
                        ('total_input_tokens', models.BigIntegerField(default=0)),
                        ('total_output_tokens', models.BigIntegerField(default=0)),
                        ('total_cost', models.DecimalField(decimal_places=6, default=0, max_digits=14)),
                        ('quality_score', models.FloatField(blank=True, null=True)),
                        ('escalations', models.PositiveIntegerField(default=0)),
                        ('agent', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='invocations', to='agentops.agent')),
                        ('caller_agent', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='agentops.agent')),
                        ('prompt', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='agentops.promptversion')),
                        ('run', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='invocations', to='monitoring.run')),
                    ],
                    options={
                        'indexes': [models.Index(fields=['agent', 'started_at'], name='invocation_agent_time_idx')],
                        'constraints': [models.UniqueConstraint(fields=('run', 'span_id', 'started_at'), name='invocation_unique_span')],
                    },
                ),
            ],
        ),
    ]
