"""Team, TeamMembership, WorkingHours and Holiday, moved from the escalation app: state only,
on the tables escalation created (teams.0002 renames them). The tickets and sla apps point
their foreign keys here (tickets.0009, sla.0005) before escalation forgets them (0004)."""

import datetime

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import core.validators


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("escalation", "0003_team_kind_known_tierless_last"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    state_operations = [
        migrations.CreateModel(
            name="Team",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(unique=True, verbose_name="slug")),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                ("tier", models.PositiveSmallIntegerField(blank=True, null=True, verbose_name="tier")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("support", "Support engineers"),
                            ("billing", "Billing"),
                            ("datacenter", "Data center technicians"),
                            ("sysadmin", "System administrators"),
                            ("management", "Management"),
                        ],
                        max_length=20,
                        verbose_name="kind",
                    ),
                ),
                (
                    "timezone",
                    models.CharField(
                        default="UTC",
                        max_length=64,
                        validators=[core.validators.validate_timezone],
                        verbose_name="time zone",
                    ),
                ),
                (
                    "site",
                    models.SlugField(
                        blank=True,
                        help_text="Site code (e.g. ams, mia) for data-center teams.",
                        max_length=20,
                        verbose_name="data-center site",
                    ),
                ),
                (
                    "holiday_country",
                    models.CharField(
                        blank=True,
                        help_text="ISO country code whose public holidays close this team (e.g. NL, US).",
                        max_length=2,
                        verbose_name="public holidays of",
                    ),
                ),
                ("holiday_subdivision", models.CharField(blank=True, max_length=10, verbose_name="holiday subdivision")),
                ("active", models.BooleanField(default=True, verbose_name="active")),
            ],
            options={
                "verbose_name": "team",
                "verbose_name_plural": "teams",
                "ordering": [models.OrderBy(models.F("tier"), nulls_last=True), "slug"],
                "db_table": "escalation_team",
            },
        ),
        migrations.CreateModel(
            name="TeamMembership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("joined_at", models.DateTimeField(auto_now_add=True)),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to="teams.team"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="team_memberships",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "team membership",
                "verbose_name_plural": "team memberships",
                "db_table": "escalation_teammembership",
                "constraints": [models.UniqueConstraint(fields=("team", "user"), name="membership_unique_team_user")],
            },
        ),
        migrations.AddField(
            model_name="team",
            name="members",
            field=models.ManyToManyField(
                blank=True, related_name="support_teams", through="teams.TeamMembership", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.CreateModel(
            name="WorkingHours",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "weekday",
                    models.PositiveSmallIntegerField(
                        choices=[
                            (0, "Monday"),
                            (1, "Tuesday"),
                            (2, "Wednesday"),
                            (3, "Thursday"),
                            (4, "Friday"),
                            (5, "Saturday"),
                            (6, "Sunday"),
                        ],
                        verbose_name="weekday",
                    ),
                ),
                ("start", models.TimeField(verbose_name="start")),
                ("end", models.TimeField(help_text="00:00 means midnight at the end of the day.", verbose_name="end")),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="working_hours", to="teams.team"
                    ),
                ),
            ],
            options={
                "verbose_name": "working hours",
                "verbose_name_plural": "working hours",
                "ordering": ["team", "weekday", "start"],
                "db_table": "escalation_workinghours",
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("weekday__lte", 6)), name="hours_weekday_0_to_6"),
                    models.CheckConstraint(
                        condition=models.Q(("end__gt", models.F("start")), ("end", datetime.time(0, 0)), _connector="OR"),
                        name="hours_end_after_start",
                    ),
                    models.UniqueConstraint(fields=("team", "weekday", "start"), name="hours_unique_team_weekday_start"),
                ],
            },
        ),
        migrations.CreateModel(
            name="Holiday",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("date", models.DateField(verbose_name="date")),
                ("name", models.CharField(blank=True, max_length=100, verbose_name="name")),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="holidays", to="teams.team"
                    ),
                ),
            ],
            options={
                "verbose_name": "holiday",
                "verbose_name_plural": "holidays",
                "ordering": ["team", "date"],
                "db_table": "escalation_holiday",
                "constraints": [models.UniqueConstraint(fields=("team", "date"), name="holiday_unique_team_date")],
            },
        ),
        migrations.AddConstraint(
            model_name="team",
            constraint=models.CheckConstraint(
                condition=models.Q(("tier__isnull", True), models.Q(("tier__gte", 1), ("tier__lte", 3)), _connector="OR"),
                name="team_tier_1_to_3",
            ),
        ),
        migrations.AddConstraint(
            model_name="team",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "datacenter"), _negated=True), models.Q(("site", ""), _negated=True), _connector="OR"
                ),
                name="team_datacenter_has_site",
            ),
        ),
        migrations.AddConstraint(
            model_name="team",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "datacenter")), fields=("site",), name="team_one_datacenter_team_per_site"
            ),
        ),
        migrations.AddConstraint(
            model_name="team",
            constraint=models.CheckConstraint(
                condition=models.Q(("kind__in", ["support", "billing", "datacenter", "sysadmin", "management"])),
                name="team_kind_known",
            ),
        ),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=state_operations)]
