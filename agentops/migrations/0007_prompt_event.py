"""Prompt history (PromptEvent), seeded from what is already recorded: each "activated" audit event of a
prompt version, the active version of an agent without one (dated when it was written, the best known
time), and each running rollout (from its start)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def seed_history(apps, schema_editor):
    AuditEvent = apps.get_model("agentops", "AuditEvent")
    PromptEvent = apps.get_model("agentops", "PromptEvent")
    PromptRollout = apps.get_model("agentops", "PromptRollout")
    PromptVersion = apps.get_model("agentops", "PromptVersion")
    versions = {str(p.pk): p for p in PromptVersion.objects.all()}
    events, dated = [], set()
    for audit in AuditEvent.objects.filter(action="activated", object_type="prompt version").order_by("at", "id"):
        prompt = versions.get(audit.object_id)
        if prompt is not None:
            events.append(PromptEvent(agent_id=prompt.agent_id, prompt=prompt, version=prompt.version,
                                      kind="activated", at=audit.at))
            dated.add(prompt.pk)
    for prompt in versions.values():
        if prompt.is_active and prompt.pk not in dated:
            events.append(PromptEvent(agent_id=prompt.agent_id, prompt=prompt, version=prompt.version,
                                      kind="activated", at=prompt.created_at))
    for rollout in PromptRollout.objects.select_related("candidate"):
        events.append(PromptEvent(agent_id=rollout.agent_id, prompt=rollout.candidate, version=rollout.candidate.version,
                                  kind="rollout_started", share=rollout.share, at=rollout.started_at,
                                  actor_id=rollout.started_by_id))
    PromptEvent.objects.bulk_create(events, batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ('agentops', '0006_agent_archive_test_preferences'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='PromptEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('version', models.PositiveIntegerField()),
                ('kind', models.CharField(choices=[('activated', 'made active'), ('rollout_started', 'rollout started'), ('rollout_changed', 'rollout changed'), ('rollout_ended', 'rollout ended')], max_length=20)),
                ('share', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('at', models.DateTimeField(default=django.utils.timezone.now)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('agent', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='prompt_events', to='agentops.agent')),
                ('prompt', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='events', to='agentops.promptversion')),
            ],
            options={
                'ordering': ['at', 'id'],
                'indexes': [models.Index(fields=['agent', 'at'], name='prompt_event_agent_time_idx')],
            },
        ),
        migrations.RunPython(seed_history, migrations.RunPython.noop),
    ]
