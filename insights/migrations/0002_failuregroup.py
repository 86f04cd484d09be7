# FailureGroup moves here from monitoring (its table, monitoring_failuregroup, is renamed) and its root
# cause becomes a foreign key to handoffs.RootCause, the one editable taxonomy. Existing annotations
# keep their cause: the old fixed codes (missing_knowledge, ...) map to the RootCause with the same slug
# in hyphens (missing-knowledge), else the same name, else a RootCause created for it. The old column
# is dropped in 0003 (a separate transaction: Postgres refuses to alter a table with pending
# deferred foreign-key checks from the rows updated here).

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

OLD_CAUSES = {
    "missing_knowledge": "Missing knowledge",
    "tool_failure": "Tool failure",
    "policy_restriction": "Policy restriction",
    "unsupported_request": "Unsupported request",
    "model_error": "Model error",
    "guardrail_block": "Guardrail block",
    "customer_request": "Customer request",
    "other": "Other",
}


def cause_for_code(RootCause, code: str):
    """The RootCause an old fixed code stands for, created (active, at the end) when there is none."""
    slug = code.replace("_", "-")
    name = OLD_CAUSES.get(code, code.replace("_", " ").capitalize())
    cause = RootCause.objects.filter(slug=slug).first() or RootCause.objects.filter(name__iexact=name).first()
    if cause is None:
        last = RootCause.objects.order_by("-position").values_list("position", flat=True).first() or 0
        cause = RootCause.objects.create(slug=slug, name=name, position=min(last + 10, 32767))
    return cause


def codes_to_causes(apps, schema_editor):
    FailureGroup = apps.get_model("insights", "FailureGroup")
    RootCause = apps.get_model("handoffs", "RootCause")
    codes = FailureGroup.objects.exclude(legacy_root_cause="").values_list("legacy_root_cause", flat=True).distinct()
    for code in list(codes):
        cause = cause_for_code(RootCause, code)
        FailureGroup.objects.filter(legacy_root_cause=code).update(root_cause=cause)


def causes_to_codes(apps, schema_editor):
    FailureGroup = apps.get_model("insights", "FailureGroup")
    for group in FailureGroup.objects.filter(root_cause__isnull=False).select_related("root_cause"):
        code = group.root_cause.slug.replace("-", "_")
        group.legacy_root_cause = code if code in OLD_CAUSES else "other"
        group.save(update_fields=["legacy_root_cause"])


class Migration(migrations.Migration):

    dependencies = [
        ('insights', '0001_initial'),
        ('monitoring', '0010_failuregroup_to_insights'),
        ('handoffs', '0002_ticketevent_append_only'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[migrations.CreateModel(
            name='FailureGroup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('fingerprint', models.CharField(max_length=40, unique=True)),
                ('root_cause', models.CharField(blank=True, max_length=32)),
                ('note', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('owner', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='owned_failure_groups', to=settings.AUTH_USER_MODEL)),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={'db_table': 'monitoring_failuregroup'},
        )]),
        migrations.AlterModelTable(name='failuregroup', table=None),
        migrations.RenameField(model_name='failuregroup', old_name='root_cause', new_name='legacy_root_cause'),
        migrations.AddField(
            model_name='failuregroup',
            name='root_cause',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='failure_groups', to='handoffs.rootcause'),
        ),
        migrations.RunPython(codes_to_causes, causes_to_codes),
    ]
