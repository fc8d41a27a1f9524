"""How we write a duration ("12 min", "3 h 5 min", "2 d 4 h") and a moment in a person's own
time zone ("Monday 8 December at 08:00 (Europe/Rome time)"), in the active language."""

import datetime
import zoneinfo

from django.utils import formats, translation
from django.utils.translation import gettext


def duration_text(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return gettext("%(minutes)d min") % {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        if not minutes:
            return gettext("%(hours)d h") % {"hours": hours}
        return gettext("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    days, hours = divmod(hours, 24)
    return gettext("%(days)d d %(hours)d h") % {"days": days, "hours": hours}


# Languages that write the names of days and months in lower case inside a sentence ("lunedì 9
# marzo"), where Django's catalog gives them capitalised for headings.
LOWER_CASE_DATES = frozenset({"it"})


def moment_text(moment: datetime.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """ "Monday 8 December at 08:00 (Europe/Rome time)", in the active language."""
    local = moment.astimezone(zone)
    day = formats.date_format(local, "l j F")
    if translation.get_language() in LOWER_CASE_DATES:
        day = day.lower()
    return gettext("%(day)s at %(time)s (%(zone)s time)") % {
        "day": day,
        "time": local.strftime("%H:%M"),
        "zone": zone.key,
    }
