# An agent's failed invocations over a range are read and counted along a partial index of the
# failures alone (the agent page's recent failures, the agent's runs page filtered to errors). Built
# on every day partition through the partitioned parent; new partitions get it from the parent.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('agentops', '0007_prompt_event'),
        ('monitoring', '0020_version_cells_by_caller'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='invocation',
            index=models.Index(condition=models.Q(('status', 'error')), fields=['agent', 'started_at'], name='invocation_error_time_idx'),
        ),
    ]
