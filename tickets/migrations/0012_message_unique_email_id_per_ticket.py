"""One stored message per email and thread. An email delivered twice while the first delivery
was being filed may already be stored twice: the later copies keep their text and lose the
Message-ID (nothing is deleted), then the constraint holds. Undoing drops the constraint; the
ids taken from the copies are not restored (they named the same email as the first)."""

from django.db import migrations, models
from django.db.models import Count, Min


def duplicates_unmarked(apps, schema_editor):
    Message = apps.get_model("tickets", "Message")
    doubled = (
        Message.objects.exclude(email_message_id="")
        .values("ticket_id", "email_message_id")
        .annotate(copies=Count("id"), first=Min("id"))
        .filter(copies__gt=1)
    )
    for group in doubled.iterator():
        Message.objects.filter(
            ticket_id=group["ticket_id"], email_message_id=group["email_message_id"]
        ).exclude(pk=group["first"]).update(email_message_id="")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0011_inboundemail_outboundemail_reply_to")]

    operations = [
        migrations.RunPython(duplicates_unmarked, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                condition=models.Q(("email_message_id", ""), _negated=True),
                fields=("ticket", "email_message_id"),
                name="message_unique_email_id_per_ticket",
            ),
        ),
    ]
