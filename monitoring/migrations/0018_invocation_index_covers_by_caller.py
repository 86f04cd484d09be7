# invocation_agent_time_idx carries the columns of the agent page's by-caller breakdown, so that
# statement reads the index alone (monitoring/dashboards/invocations.py). Same key, same name: the
# index is dropped and built again (on every day partition, through the partitioned parent).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0017_compact_telemetry'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='invocation',
            name='invocation_agent_time_idx',
        ),
        migrations.AddIndex(
            model_name='invocation',
            index=models.Index(fields=['agent', 'started_at'], include=('caller_agent', 'duration_ms', 'status', 'escalations', 'cost', 'input_tokens', 'output_tokens'), name='invocation_agent_time_idx'),
        ),
    ]
