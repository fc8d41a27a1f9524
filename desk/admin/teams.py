"""Admin for the support structure: teams with their hours, holidays and members."""

import itertools
import zoneinfo
from collections import defaultdict

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from teams.calendar import AlwaysClosedError, is_open, next_open
from teams.models import MIDNIGHT, Holiday, Team, TeamMembership, WorkingHours
from teams.selectors import (
    UnknownHolidayCalendarError,
    public_holidays,
    team_calendar,
    teams_with_calendars,
)


def _zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class TeamAdminForm(forms.ModelForm):
    # A list rather than free text: a typo in a zone would move every deadline of the team.
    timezone = forms.ChoiceField(label=_("time zone"), choices=_zone_choices)

    class Meta:
        model = Team
        fields = (
            "slug",
            "name",
            "tier",
            "kind",
            "timezone",
            "site",
            "holiday_country",
            "holiday_subdivision",
            "active",
        )

    def clean_holiday_country(self) -> str:
        return self.cleaned_data["holiday_country"].strip().upper()

    def clean(self):
        cleaned = super().clean()
        country = cleaned.get("holiday_country", "")
        subdivision = cleaned.get("holiday_subdivision", "").strip()
        cleaned["holiday_subdivision"] = subdivision
        if subdivision and not country:
            self.add_error("holiday_subdivision", _("A subdivision needs a country."))
        elif country:
            try:
                public_holidays(country, subdivision)
            except UnknownHolidayCalendarError:
                field = "holiday_subdivision" if subdivision else "holiday_country"
                self.add_error(field, _("No public holiday calendar is known for this."))
        return cleaned


def _minutes(value, *, end: bool) -> int:
    if end and value == MIDNIGHT:
        return 24 * 60
    return value.hour * 60 + value.minute


class WorkingHoursForm(forms.ModelForm):
    class Meta:
        model = WorkingHours
        fields = ("weekday", "start", "end")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if (
            start is not None
            and end is not None
            and _minutes(end, end=True) <= _minutes(start, end=False)
        ):
            # On the field: the model's own check on `end` then stands aside, one message shows.
            self.add_error("end", _("The end must be after the start (00:00 means midnight)."))
        return cleaned


class WorkingHoursFormSet(forms.BaseInlineFormSet):
    """Ranges of one weekday must not overlap: the edit would say something other than what
    the admin meant. Ranges that touch (09:00-12:00, 12:00-18:00) are fine."""

    def clean(self):
        super().clean()
        by_weekday = defaultdict(list)
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or form.errors:
                continue
            by_weekday[data["weekday"]].append(
                (_minutes(data["start"], end=False), _minutes(data["end"], end=True))
            )
        for weekday, ranges in sorted(by_weekday.items()):
            ranges.sort()
            for (_start, end), (next_start, _end) in itertools.pairwise(ranges):
                if next_start < end:
                    raise ValidationError(
                        _("Working hours overlap on %(weekday)s.")
                        % {"weekday": WorkingHours.Weekday(weekday).label}
                    )


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    form = WorkingHoursForm
    formset = WorkingHoursFormSet
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    fields = ("date", "name")
    extra = 0


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    fields = ("user", "joined_at")
    readonly_fields = ("joined_at",)
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    form = TeamAdminForm
    list_display = ("name", "slug", "tier", "kind", "timezone", "site", "active")
    list_filter = ("kind", "tier", "active")
    search_fields = ("slug", "name", "site")
    inlines = (WorkingHoursInline, HolidayInline, TeamMembershipInline)

    def get_queryset(self, request):
        # Hours and holidays prefetched: the calendar columns cost no query per row.
        return teams_with_calendars(super().get_queryset(request))

    def get_list_display(self, request):
        # One clock reading per page, shared by every row and column.
        now = timezone.now()

        @admin.display(description=_("open now"), boolean=True)
        def open_now(team: Team) -> bool | None:
            try:
                return is_open(now, team_calendar(team))
            except ValueError:
                return None

        @admin.display(description=_("next opening"))
        def next_opening(team: Team) -> str:
            try:
                opens = next_open(now, team_calendar(team))
            except AlwaysClosedError:
                return _("never")
            except ValueError:
                return "-"
            if opens == now:
                return "-"
            return opens.astimezone(team.zone).strftime("%a %Y-%m-%d %H:%M %Z")

        return (*self.list_display, open_now, next_opening)


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ("date", "name", "team")
    list_filter = ("team",)
    list_select_related = ("team",)
    date_hierarchy = "date"
    search_fields = ("name", "team__name", "team__slug")
