"""Versions of the SLA policy: the targets a clock gets when it starts. A change is saved as a
new version; running clocks keep the one they started with."""

import datetime

from django.db import IntegrityError, transaction

from sla import policy
from sla.models import Policy
from sla.policy import Targets

SEED_NOTE = "API.md defaults"


def policy_seed(*, now: datetime.datetime) -> tuple[Policy, bool]:
    """Version 1 from API.md's defaults when no version exists yet; returns the current version
    and whether it was written. A version a manager saved is never touched, so `setup_support`
    runs this every time."""
    current = Policy.objects.order_by("-version").first()
    if current is not None:
        return current, False
    # get_or_create: two first tickets racing both find no version; one writes it.
    return Policy.objects.get_or_create(
        version=1,
        defaults={
            **Policy.fields_of(policy.DEFAULT_TARGETS),
            "note": SEED_NOTE,
            "created_at": now,
        },
    )


def policy_current(*, now: datetime.datetime) -> Policy:
    """The version new clocks take: the highest (one query; written first if there is none,
    so that every clock names the version that set its target)."""
    return policy_seed(now=now)[0]


VERSION_ATTEMPTS = 3


def policy_version_create(*, targets: Targets, note: str, author, now: datetime.datetime) -> Policy:
    """A change to the policy, saved as the next version: new clocks take it, running ones keep
    the version they started with."""

    def create() -> Policy:
        latest = Policy.objects.order_by("-version").values_list("version", flat=True).first()
        with transaction.atomic():
            return Policy.objects.create(
                version=(latest or 0) + 1,
                **Policy.fields_of(targets),
                note=note,
                created_by=author,
                created_at=now,
            )

    for _attempt in range(VERSION_ATTEMPTS - 1):
        try:
            return create()
        except IntegrityError:
            continue  # another manager saved a version in between: take the number after it
    return create()
