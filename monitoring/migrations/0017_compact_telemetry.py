# Narrower telemetry rows (docs/operations.md, "Telemetry storage and retention"):
#
# - steps lose trace_id (the run holds it) and the index on agent_id (no page reads steps by agent);
#   their token counts become integers (a span's are capped at 100 M);
# - steps, invocations and agent-map edges are read and replaced by run: one index on run_id each
#   (deduplicated: a run's steps share an entry), instead of a surrogate (id, started_at) primary key
#   that nothing reads and a unique key the write path already guarantees under its per-trace lock
#   (≈ 80 bytes a span for steps). ``id`` stays the ORM's key, without an index;
# - runs index only failed runs for the explorer's error filter (run_error_time_idx), and only runs
#   with a prompt version (run_prompt_idx); edges only agent targets (edge_target_agent_idx);
# - where the server has lz4, the step's large text and JSON columns are compressed with it (faster
#   than pglz to write and read); without lz4 (a server built without it) they keep pglz.
#
# Dropping a column or a key is a catalog change. The token columns' type change rewrites the step
# table and the new indexes are built per partition: minutes for tens of millions of spans, under the lock
# of an ALTER TABLE (workers paused; intake keeps accepting into the inbox).

from django.db import migrations, models

KEYS = (
    # table, unique constraint, its columns (only for reversing)
    ("monitoring_step", "step_unique_span", "run_id, started_at, span_id"),
    ("monitoring_invocation", "invocation_unique_span", "run_id, span_id, started_at"),
    ("monitoring_interactionedge", "edge_unique_per_run", "run_id, source_id, target_kind, target_name, started_at"),
)
PARTITION_COLUMN = "started_at"


def drop_keys_sql() -> list[str]:
    return [f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey" for table, _name, _columns in KEYS]


def add_keys_sql() -> list[str]:
    return [f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id, {PARTITION_COLUMN})"
            for table, _name, _columns in KEYS]


LZ4_COLUMNS = ("input", "output", "attributes", "events", "error_message")


def has_lz4(cursor) -> bool:
    """Whether the server was built with lz4 (``enumvals`` lists only the methods it has)."""
    cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
    row = cursor.fetchone()
    return bool(row and row[0])


def set_compression(cursor, method: str) -> None:
    """On the parent (new day partitions copy it) and on every partition (SET COMPRESSION does not
    recurse; a value is compressed by the partition that stores it). New values only: stored ones
    keep their method until their day is dropped."""
    from monitoring.storage import partitions

    columns = ", ".join(f"ALTER COLUMN {column} SET COMPRESSION {method}" for column in LZ4_COLUMNS)
    for table in ["monitoring_step", *partitions.partitions(cursor, "monitoring_step")]:
        cursor.execute(f"ALTER TABLE {table} {columns}")


def compress_with_lz4(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if has_lz4(cursor):
            set_compression(cursor, "lz4")


def compress_with_default(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        set_compression(cursor, "DEFAULT")


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0016_raised_alert_rules'),
    ]

    operations = [
        migrations.RemoveField(model_name='step', name='trace_id'),
        migrations.AlterField(
            model_name='step',
            name='agent',
            field=models.ForeignKey(db_index=False, on_delete=models.deletion.PROTECT, related_name='steps',
                                    to='agentops.agent'),
        ),
        migrations.AlterField(model_name='step', name='input_tokens', field=models.IntegerField(default=0)),
        migrations.AlterField(model_name='step', name='output_tokens', field=models.IntegerField(default=0)),
        migrations.RemoveIndex(model_name='run', name='run_status_time_idx'),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(condition=models.Q(('status', 'error')), fields=['-started_at', '-id'],
                               name='run_error_time_idx'),
        ),
        migrations.RemoveConstraint(model_name='step', name='step_unique_span'),
        migrations.AddIndex(model_name='step', index=models.Index(fields=['run'], name='step_run_idx')),
        migrations.RemoveConstraint(model_name='invocation', name='invocation_unique_span'),
        migrations.AddIndex(model_name='invocation', index=models.Index(fields=['run'], name='invocation_run_idx')),
        migrations.RemoveConstraint(model_name='interactionedge', name='edge_unique_per_run'),
        migrations.AddIndex(model_name='interactionedge', index=models.Index(fields=['run'], name='edge_run_idx')),
        migrations.RunSQL(drop_keys_sql(), reverse_sql=add_keys_sql()),
        migrations.AlterField(
            model_name='interactionedge',
            name='target_agent',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=models.deletion.CASCADE,
                                    related_name='incoming_edges', to='agentops.agent'),
        ),
        migrations.AddIndex(
            model_name='interactionedge',
            index=models.Index(condition=models.Q(('target_agent__isnull', False)), fields=['target_agent'],
                               name='edge_target_agent_idx'),
        ),
        migrations.AlterField(
            model_name='run',
            name='prompt',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=models.deletion.SET_NULL,
                                    related_name='runs', to='agentops.promptversion'),
        ),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(condition=models.Q(('prompt__isnull', False)), fields=['prompt'], name='run_prompt_idx'),
        ),
        migrations.RunPython(compress_with_lz4, compress_with_default),
    ]
