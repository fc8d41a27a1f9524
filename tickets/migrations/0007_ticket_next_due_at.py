from django.db import migrations, models

# The running (neither met nor cancelled), unpaused clock due first, as sla.services keeps it.
BACKFILL = """
UPDATE tickets_ticket SET next_due_at = (
    SELECT MIN(c.due_at) FROM sla_clock c
    WHERE c.ticket_id = tickets_ticket.id
      AND c.met_at IS NULL AND c.cancelled_at IS NULL AND c.paused_at IS NULL
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0003_clock_ended_indexes"),
        ("tickets", "0006_ticket_activity_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="ticket",
            name="next_due_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="next deadline"
            ),
        ),
        # Reversed by removing the column.
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["next_due_at", "created_at", "-id"], name="ticket_next_due_idx"
            ),
        ),
    ]
