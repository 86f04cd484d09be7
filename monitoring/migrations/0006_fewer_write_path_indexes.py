"""Indexes that ingest paid for on every write but no query needs.

* Foreign-key indexes a composite index already leads with (the composite serves the same lookups,
  including the cascade checks): run.agent (run_agent_time_idx), step.run (step_run_time_idx),
  score.run (score_unique_key), edge.run (edge_unique_per_run), edge.department (edge_dept_time_idx).
* The ``varchar_pattern_ops`` twins Django adds to indexed CharFields on PostgreSQL for LIKE 'x%':
  nothing filters runs by a prefix of their trace id, session or fingerprint.
"""

import django.db.models.deletion
from django.db import migrations, models


LIKE_INDEXES = [
    ("monitoring_run_trace_id_ce185335_like", "trace_id"),
    ("monitoring_run_session_id_d1a88a5a_like", "session_id"),
    ("monitoring_run_fingerprint_b74d63ae_like", "fingerprint"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('agentops', '0003_prompt_rollout'),
        ('monitoring', '0005_inbox_compressed_payload'),
    ]

    operations = [
        migrations.RunSQL(
            sql=[f"DROP INDEX IF EXISTS {name}" for name, _column in LIKE_INDEXES],
            reverse_sql=[f"CREATE INDEX {name} ON monitoring_run ({column} varchar_pattern_ops)"
                         for name, column in LIKE_INDEXES],
        ),
        migrations.AlterField(
            model_name='interactionedge',
            name='department',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='agentops.department'),
        ),
        migrations.AlterField(
            model_name='interactionedge',
            name='run',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='edges', to='monitoring.run'),
        ),
        migrations.AlterField(
            model_name='run',
            name='agent',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='runs', to='agentops.agent'),
        ),
        migrations.AlterField(
            model_name='score',
            name='run',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='scores', to='monitoring.run'),
        ),
        migrations.AlterField(
            model_name='step',
            name='run',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='monitoring.run'),
        ),
    ]
