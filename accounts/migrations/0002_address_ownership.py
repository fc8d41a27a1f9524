"""Who owns an address: `owned_address` (one owner at most), when a link proved it, and sign-ups
that wait for their link.

Existing customers own the address they have. Those made from their own email, by
`add_customer` or by `seed_demo` must; the sign-ups made before this change cannot be told
apart from them in the rows (a usable password and a profile, both), and making none of them
owners would send every later email of theirs to a new account made from it. So all keep their
address, the disabled ones too (their mail stays refused, not filed under a newcomer). Where
several accounts share an address, the one mail was filed under until now keeps it: the active
one first, then the oldest. Staff own no address: their mail is never a customer's.
"""

from django.conf import settings
from django.db import migrations, models

BATCH = 1000


def addresses_owned(apps, schema_editor):
    Profile = apps.get_model("accounts", "CustomerProfile")
    profiles = (
        Profile.objects.filter(user__is_staff=False, user__is_superuser=False)
        .exclude(user__email="")
        .select_related("user")
        .order_by("-user__is_active", "user_id")
    )
    taken, batch = set(), []
    for profile in profiles.iterator(chunk_size=BATCH):
        key = profile.user.email.strip().lower()
        if key in taken:
            continue
        taken.add(key)
        profile.owned_address = key
        batch.append(profile)
        if len(batch) == BATCH:
            Profile.objects.bulk_update(batch, ["owned_address"])
            batch = []
    Profile.objects.bulk_update(batch, ["owned_address"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_customerprofile_from_tickets"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="customerprofile",
            name="address_proven_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When a link sent to the address was followed, or a password reset.",
                null=True,
                verbose_name="address proven at",
            ),
        ),
        migrations.AddField(
            model_name="customerprofile",
            name="owned_address",
            field=models.EmailField(
                blank=True,
                default="",
                help_text="The email address this account owns, in lower case; empty when it owns none.",
                max_length=254,
                verbose_name="owned address",
            ),
        ),
        migrations.AddField(
            model_name="customerprofile",
            name="signup_pending_since",
            field=models.DateTimeField(
                blank=True,
                help_text="A sign-up whose link has not been followed yet: the account is inactive.",
                null=True,
                verbose_name="sign-up pending since",
            ),
        ),
        # Undone by dropping the columns; nothing to restore.
        migrations.RunPython(addresses_owned, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="customerprofile",
            constraint=models.UniqueConstraint(
                condition=models.Q(("owned_address", ""), _negated=True),
                fields=("owned_address",),
                name="profile_owned_address_unique",
            ),
        ),
    ]
