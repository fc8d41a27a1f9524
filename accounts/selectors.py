"""Reads of a person's profile that every room needs to speak to them."""

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser


def language_of(user: AbstractBaseUser) -> str:
    profile = getattr(user, "customer_profile", None)
    return profile.language if profile is not None else settings.LANGUAGE_CODE


def zone_of(user: AbstractBaseUser) -> zoneinfo.ZoneInfo:
    """The person's own time zone: their profile's, else the site's."""
    profile = getattr(user, "customer_profile", None)
    return profile.zone if profile is not None else zoneinfo.ZoneInfo(settings.TIME_ZONE)
