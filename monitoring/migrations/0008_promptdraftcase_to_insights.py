# PromptDraftCase now belongs to the insights app; its table stays where it is (state only).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0007_failure_group_index'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='PromptDraftCase')],
            database_operations=[],
        ),
    ]
