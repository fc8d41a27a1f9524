"""CustomerProfile moves to the accounts app: its table is renamed, its data kept. The model
leaves this app's state here and enters accounts' in accounts.0001."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("tickets", "0007_ticket_next_due_at")]

    operations = [
        migrations.AlterModelTable(name="customerprofile", table="accounts_customerprofile"),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="CustomerProfile")]
        ),
    ]
