"""Reads of a person's profile that every room needs to speak to them; who owns an address;
the signed links that prove one; whether an API token still counts."""

import dataclasses
import datetime
import functools
import zoneinfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db.models import Q
from django.utils.crypto import constant_time_compare, salted_hmac

User = get_user_model()

# What a signed link proves, each its own salt: a sign-up link never passes for an address
# change, and the other way round.
SIGNUP = "signup"
ADDRESS_CHANGE = "address_change"


def language_of(user: AbstractBaseUser) -> str:
    profile = getattr(user, "customer_profile", None)
    return profile.language if profile is not None else settings.LANGUAGE_CODE


def zone_of(user: AbstractBaseUser) -> zoneinfo.ZoneInfo:
    """The person's own time zone: their profile's, else the site's."""
    profile = getattr(user, "customer_profile", None)
    return profile.zone if profile is not None else zoneinfo.ZoneInfo(settings.TIME_ZONE)


@functools.cache
def timezone_names() -> tuple[str, ...]:
    """The IANA zones a person picks from: places ("Europe/Rome") and UTC, without the legacy
    aliases ("CET", "Navajo") and the fixed offsets of Etc/ whose signs read backwards."""
    places = sorted(
        name
        for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/"))
    )
    return (*places, "UTC")


# --- Who owns an address ---------------------------------------------------------------------


def address_key(address: str) -> str:
    """An address as it is compared and stored as owned: case-insensitive, like every lookup
    of a sender or an account by address."""
    return address.strip().lower()


def owns_address(user: AbstractBaseUser) -> bool:
    """Whether the account owns the address it has now (a change in the admin ends it)."""
    profile = getattr(user, "customer_profile", None)
    return (
        profile is not None
        and bool(profile.owned_address)
        and profile.owned_address == address_key(user.email)
    )


def address_owner(address: str) -> AbstractBaseUser | None:
    """The account that owns `address`, active or disabled; at most one (a unique constraint)."""
    key = address_key(address)
    if not key:
        return None
    return (
        User.objects.select_related("customer_profile")
        .filter(customer_profile__owned_address=key, email__iexact=key)
        .first()
    )


def customer_owning_address(address: str) -> AbstractBaseUser | None:
    """The active customer who owns `address`: they proved it (a link we sent to it, a
    password reset), or their account was made from their own email or by an operator. An
    account that never proved the address it gave, or a disabled one, owns nothing here."""
    owner = address_owner(address)
    if owner is None or not owner.is_active or owner.is_staff or owner.is_superuser:
        return None
    return owner


def address_holder(address: str) -> AbstractBaseUser | None:
    """Who keeps `address` from a newcomer (a sign-up, an address change, a new sender): its
    owner, active or disabled, else an active staff account that has it."""
    owner = address_owner(address)
    if owner is not None:
        return owner
    return (
        User.objects.filter(email__iexact=address_key(address), is_active=True)
        .filter(Q(is_staff=True) | Q(is_superuser=True))
        .order_by("pk")
        .first()
    )


# --- Signed links ----------------------------------------------------------------------------


def _account_stamp(user: AbstractBaseUser) -> str:
    """A digest of what a link relies on. It changes once a link has done its work (the account
    activated, the address proven or changed) and when the password changes, so that every
    earlier link stops working: each is single-use without a table of used links."""
    profile = getattr(user, "customer_profile", None)
    proven_at = profile.address_proven_at if profile is not None else None
    state = (
        user.pk,
        user.is_active,
        user.email,
        user.password,
        profile.owned_address if profile is not None else "",
        proven_at.isoformat() if proven_at is not None else "",
    )
    return salted_hmac("accounts.link", "|".join(map(str, state))).hexdigest()


def link_token(*, user: AbstractBaseUser, purpose: str, now: datetime.datetime, **data: str) -> str:
    """A signed token for a link that proves an address: the account, when it was issued, the
    account's stamp and `data` (e.g. the address to move to). Readable, never forgeable: it
    carries no secret."""
    payload = {"u": user.pk, "t": int(now.timestamp()), "s": _account_stamp(user), **data}
    return signing.dumps(payload, salt=f"accounts.{purpose}", compress=True)


@dataclasses.dataclass(frozen=True)
class Link:
    user: AbstractBaseUser
    data: dict


def link_read(token: str, *, purpose: str, now: datetime.datetime, hours: int) -> Link | None:
    """The account and data of a link made for `purpose`, or None when the token is forged,
    issued more than `hours` ago, or already used (the account's stamp moved on)."""
    try:
        payload = signing.loads(token, salt=f"accounts.{purpose}")
    except signing.BadSignature:
        return None
    if now.timestamp() - payload["t"] >= hours * 3600:
        return None
    user = User.objects.select_related("customer_profile").filter(pk=payload["u"]).first()
    if user is None or not constant_time_compare(payload["s"], _account_stamp(user)):
        return None
    return Link(user=user, data=payload)


# --- API tokens ------------------------------------------------------------------------------


def api_token_expired(token, *, now: datetime.datetime) -> bool:
    """An API token counts for API_TOKEN_TTL_DAYS from its creation."""
    return now >= token.created + datetime.timedelta(days=settings.API_TOKEN_TTL_DAYS)
