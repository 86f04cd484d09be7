# PromptDraftCase moved here from monitoring: the table (monitoring_promptdraftcase) exists already,
# so only the migration state is created.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('agentops', '0003_prompt_rollout'),
        ('monitoring', '0008_promptdraftcase_to_insights'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[migrations.CreateModel(
            name='PromptDraftCase',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ticket_id', models.PositiveBigIntegerField(blank=True, null=True)),
                ('fingerprint', models.CharField(blank=True, max_length=40)),
                ('note', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('prompt_version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='draft_cases', to='agentops.promptversion')),
                ('run', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='monitoring.run')),
            ],
            options={
                'db_table': 'monitoring_promptdraftcase',
                'ordering': ['id'],
                'constraints': [models.CheckConstraint(condition=models.Q(('run__isnull', False), ('ticket_id__isnull', False), _connector='OR'), name='draft_case_has_source')],
            },
        )]),
    ]
