"""An incident saved or deleted makes every process read the open incidents again
(`incidents.selectors.open_covers`), which new requests are linked by."""

from django.db.models.signals import post_delete, post_save

from incidents.models import Incident
from incidents.selectors import open_covers


def open_incidents_changed(**kwargs) -> None:
    open_covers.changed()


def connect() -> None:
    post_save.connect(open_incidents_changed, sender=Incident, dispatch_uid="incidents.saved")
    post_delete.connect(open_incidents_changed, sender=Incident, dispatch_uid="incidents.deleted")
