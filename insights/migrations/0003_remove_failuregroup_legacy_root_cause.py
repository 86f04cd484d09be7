from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('insights', '0002_failuregroup'),
    ]

    operations = [
        migrations.RemoveField(model_name='failuregroup', name='legacy_root_cause'),
    ]
