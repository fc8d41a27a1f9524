"""The Django admin as the staff's desk, one module per model family; importing them registers
them with the admin site."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from desk.admin import (  # noqa: F401 (registers)
    conversation,
    escalation,
    incidents,
    mail,
    people,
    sla,
    teams,
    tickets,
)

admin.site.site_header = _("INTROSERV support desk")
admin.site.site_title = _("INTROSERV support desk")
admin.site.index_title = _("Queues and records")
