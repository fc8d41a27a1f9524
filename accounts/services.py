"""Writes of accounts: customers and their profiles, sign-up and the proof of an address, API
tokens. Each runs in one transaction; the emails they write leave after COMMIT."""

import datetime
import logging
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from accounts.models import CustomerProfile
from accounts.selectors import (
    ADDRESS_CHANGE,
    SIGNUP,
    address_holder,
    address_key,
    language_of,
    link_token,
    owns_address,
)
from core.errors import Conflict, ServiceError
from core.text import bidi_controls_removed
from core.validators import validate_timezone

log = logging.getLogger(__name__)
User = get_user_model()

# The username of a sign-up until its link is followed. "~" is outside every username a form
# accepts, so it never meets a real one; the name the person chose travels in the signed link
# and is taken only on confirmation: a sign-up that nobody confirms holds no name, and whether
# a name is free says nothing about whether an address has an account.
PENDING_USERNAME_PREFIX = "signup~"


def customer_upsert(
    *,
    username: str,
    email: str,
    password: str | None = None,
    language: str = "en",
    first_name: str = "",
    last_name: str = "",
    company: str = "",
    timezone: str | None = None,
) -> AbstractBaseUser:
    """Create or update a customer account and its profile. The operator gives the address, so
    the account owns it; an operator's word moves it from another account that owned it."""
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=username)
        user.email = email
        user.first_name = bidi_controls_removed(first_name) or user.first_name
        user.last_name = bidi_controls_removed(last_name) or user.last_name
        user.is_staff = False
        user.is_superuser = False
        if password:
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.save()
        profile_defaults = {"language": language}
        if company:
            profile_defaults["company"] = bidi_controls_removed(company)
        if timezone:
            profile_defaults["timezone"] = timezone
        profile, _created = CustomerProfile.objects.update_or_create(
            user=user, defaults=profile_defaults
        )
        if not owns_address(user):
            key = address_key(email)
            CustomerProfile.objects.filter(owned_address=key).exclude(user=user).update(
                owned_address=""
            )
            profile.owned_address, profile.address_proven_at = key, None
            profile.save(update_fields=["owned_address", "address_proven_at"])
    return user


def customer_register(
    *, username: str, email: str, password: str | None, language: str = "en"
) -> AbstractBaseUser:
    """A customer made from their own email: it owns the address it wrote from. Create, never
    update, so that two senders racing for one username cannot overwrite each other (the loser
    gets IntegrityError from the unique username, as from the address one owner at most may
    have). `password=None` gives an unusable password, which a password reset replaces."""
    with transaction.atomic():
        _stale_claims_release(email)
        user = User.objects.create_user(username=username, email=email, password=password)
        CustomerProfile.objects.create(
            user=user, language=language, owned_address=address_key(email)
        )
    return user


def profile_set_language(*, user: AbstractBaseUser, language: str) -> None:
    CustomerProfile.objects.update_or_create(user=user, defaults={"language": language})


def profile_update(
    *,
    user: AbstractBaseUser,
    language: str,
    timezone: str,
    first_name: str | None = None,
    last_name: str | None = None,
    company: str | None = None,
) -> None:
    """What a person sets on their profile page; None leaves a field as it is (staff set only
    their language and time zone). The address changes through `address_change_request`."""
    if language not in dict(settings.LANGUAGES):
        raise ServiceError(_("Unknown language."), field="language")
    try:
        validate_timezone(timezone)
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], field="timezone") from exc
    with transaction.atomic():
        names = {"first_name": first_name, "last_name": last_name}
        names = {
            field: bidi_controls_removed(value)
            for field, value in names.items()
            if value is not None
        }
        if names:
            User.objects.filter(pk=user.pk).update(**names)
            for field, value in names.items():
                setattr(user, field, value)
        defaults = {"language": language, "timezone": timezone}
        if company is not None:
            defaults["company"] = bidi_controls_removed(company)
        CustomerProfile.objects.update_or_create(user=user, defaults=defaults)


# --- Sign-up: the address proven by a link ---------------------------------------------------


def signup_request(
    *,
    username: str,
    email: str,
    password: str,
    language: str,
    now: datetime.datetime,
    next_url: str = "",
) -> AbstractBaseUser | None:
    """A sign-up from the form. When nobody holds the address, an inactive account is made and
    a link is sent to the address; following it (`signup_confirm`) activates the account. When
    the address has an account, no second one is made: an active holder is told by email that
    they have one, with a link to set a password. The caller says the same in both cases.

    Expired sign-ups for the same address are removed; pending ones never stand in anybody's
    way: they hold no username, and mail from the address or another sign-up ignores them.
    """
    with transaction.atomic():
        _signups_drop(
            _pending_signups(address=email).filter(
                customer_profile__signup_pending_since__lte=now
                - datetime.timedelta(hours=settings.SIGNUP_LINK_HOURS)
            )
        )
        holder = address_holder(email)
        if holder is not None:
            # The hash a new account would cost: the time of the answer tells nothing either.
            make_password(password)
            if holder.is_active:
                _email_account_exists(holder)
            return None
        user = User.objects.create_user(
            username=PENDING_USERNAME_PREFIX + secrets.token_hex(12),
            email=email,
            password=password,
            is_active=False,
        )
        CustomerProfile.objects.create(user=user, language=language, signup_pending_since=now)
        token = link_token(user=user, purpose=SIGNUP, now=now, n=username, x=next_url)
        _email_on_commit(
            to=email,
            language=language,
            template="registration/signup",
            context={
                "username": username,
                "token": token,
                "link_hours": settings.SIGNUP_LINK_HOURS,
            },
        )
    return user


def signup_confirm(
    *, user: AbstractBaseUser, username: str, now: datetime.datetime
) -> AbstractBaseUser:
    """A sign-up's link was followed: the account takes its username, becomes active and owns
    its address, proven now. Conflict when the link was used meanwhile ("link_used"), when
    the address got an account meanwhile ("address_taken": its mail or an earlier sign-up) or
    the username was taken ("username_taken"); such a sign-up can never be confirmed and is
    removed."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        profile = CustomerProfile.objects.select_for_update().get(user=user)
        if user.is_active or profile.signup_pending_since is None:
            raise Conflict(_("This link has already been used."), code="link_used")
        problem = _signup_activate(user, profile, username=username, now=now)
        if problem is not None:
            _signups_drop([user])
        else:
            # The address is owned now: other sign-ups for it can never be confirmed.
            _signups_drop(_pending_signups(address=user.email).exclude(pk=user.pk))
    if problem is not None:
        raise problem
    return user


def _signup_activate(
    user: AbstractBaseUser, profile: CustomerProfile, *, username: str, now: datetime.datetime
) -> Conflict | None:
    """Activate a sign-up in a savepoint, or say why it cannot be: the unique username and
    owned address undo it when another request took either between the look and the write
    (a racing sign-up, the first email of the address)."""
    address_taken = Conflict(_("This address already has an account."), code="address_taken")
    username_taken = Conflict(_("Someone took this username meanwhile."), code="username_taken")
    if address_holder(user.email) is not None:
        return address_taken
    if User.objects.filter(username__iexact=username).exclude(pk=user.pk).exists():
        return username_taken
    try:
        with transaction.atomic():
            user.username, user.is_active = username, True
            user.save(update_fields=["username", "is_active"])
            profile.signup_pending_since = None
            profile.save(update_fields=["signup_pending_since"])
            _address_own(profile, address=user.email, proven_at=now)
    except IntegrityError:
        return address_taken if address_holder(user.email) is not None else username_taken
    return None


def _pending_signups(*, address: str):
    return User.objects.filter(
        is_active=False,
        email__iexact=address_key(address),
        customer_profile__signup_pending_since__isnull=False,
    )


def _signups_drop(users) -> None:
    for user in users:
        try:
            with transaction.atomic():
                user.delete()
        except (ProtectedError, RestrictedError):
            # Something was filed under it in the admin: the row stays, inactive.
            log.warning("sign-up %s kept: other rows refer to it", user.pk)


# --- The address: proven, changed ------------------------------------------------------------


def _address_own(
    profile: CustomerProfile, *, address: str, proven_at: datetime.datetime | None
) -> None:
    _stale_claims_release(address)
    profile.owned_address, profile.address_proven_at = address_key(address), proven_at
    profile.save(update_fields=["owned_address", "address_proven_at"])


def _stale_claims_release(address: str) -> None:
    """An account whose address was changed (in the admin) no longer owns the old one, but its
    row still names it: free it, so that the unique address stops only a real owner."""
    key = address_key(address)
    CustomerProfile.objects.filter(owned_address=key).exclude(user__email__iexact=key).update(
        owned_address=""
    )


def address_prove(*, user: AbstractBaseUser, now: datetime.datetime) -> bool:
    """A password was set through a reset link sent to the account's address: the customer
    owns it, proven now. An address already held by another account stays with it (the first
    owner keeps it; an operator's add_customer moves it). Staff own no address here (their mail
    is never a customer's), nor does a disabled account. True when the account owns its address
    afterwards."""
    if user.is_staff or user.is_superuser or not user.is_active:
        return False
    with transaction.atomic():
        profile, _created = CustomerProfile.objects.select_for_update().get_or_create(user=user)
        holder = address_holder(user.email)
        if holder is not None and holder.pk != user.pk:
            return False
        try:
            with transaction.atomic():
                _address_own(profile, address=user.email, proven_at=now)
        except IntegrityError:  # its first email made it an account a moment ago
            return False
    return True


def address_change_request(
    *, user: AbstractBaseUser, new_address: str, now: datetime.datetime
) -> None:
    """A link to the new address; the address changes only when it is followed
    (`address_change_confirm`). The current address is told that a change was asked. Asking
    for the current address again sends the link to it: an account that does not own its
    address yet proves it that way."""
    new_address = User.objects.normalize_email(new_address)
    language = language_of(user)
    token = link_token(user=user, purpose=ADDRESS_CHANGE, now=now, e=new_address)
    context = {
        "username": user.get_username(),
        "new_address": new_address,
        "token": token,
        "link_hours": settings.ADDRESS_CHANGE_LINK_HOURS,
    }
    with transaction.atomic():
        _email_on_commit(
            to=new_address, language=language, template="accounts/address_change", context=context
        )
        if address_key(new_address) != address_key(user.email):
            _email_on_commit(
                to=user.email,
                language=language,
                template="accounts/address_change_notice",
                context=context,
            )


def address_change_confirm(
    *, user: AbstractBaseUser, new_address: str, now: datetime.datetime
) -> AbstractBaseUser:
    """The link sent to the new address was followed: it is the account's address, proven now.
    Conflict ("address_taken") when another account holds it; nothing changes then."""
    taken = Conflict(_("This address belongs to another account."), code="address_taken")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        holder = address_holder(new_address)
        if holder is not None and holder.pk != user.pk:
            raise taken
        user.email = new_address
        user.save(update_fields=["email"])
        profile, _created = CustomerProfile.objects.select_for_update().get_or_create(user=user)
        try:
            with transaction.atomic():
                _address_own(profile, address=new_address, proven_at=now)
        except IntegrityError:  # its first email made it an account a moment ago
            raise taken from None
    return user


# --- API tokens ------------------------------------------------------------------------------


def api_token_issue(*, user: AbstractBaseUser, now: datetime.datetime) -> Token:
    """The user's API token: the current one while it counts, a fresh one once it expired."""
    Token.objects.filter(
        user=user, created__lte=now - datetime.timedelta(days=settings.API_TOKEN_TTL_DAYS)
    ).delete()
    token, _created = Token.objects.get_or_create(user=user)
    return token


def api_tokens_revoke(*, user: AbstractBaseUser) -> None:
    """A new password ends every API token of the account: whoever held the old one is out."""
    deleted, _by_model = Token.objects.filter(user=user).delete()
    if deleted:
        log.info("API token of user %s revoked: the password changed", user.pk)


# --- Emails ----------------------------------------------------------------------------------


def _email_account_exists(user: AbstractBaseUser) -> None:
    """The address tried to sign up again: its account's name and a link to set a password."""
    _email_on_commit(
        to=user.email,
        language=language_of(user),
        template="registration/account_exists",
        context={
            "username": user.get_username(),
            "uid": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )


def _email_on_commit(*, to: str, language: str, template: str, context: dict) -> None:
    """`<template>_subject.txt` and `<template>_email.txt` in `language`, sent after COMMIT
    through Django's mail. Links start with SITE_URL, never with a request's Host header."""
    context = {
        **context,
        "site_url": settings.SITE_URL.rstrip("/"),
        "support_email": settings.SUPPORT_EMAIL,
    }

    def send():
        with translation.override(language):
            subject = "".join(render_to_string(f"{template}_subject.txt", context).splitlines())
            body = render_to_string(f"{template}_email.txt", context)
        try:
            send_mail(subject, body, None, [to])
        except OSError:  # smtplib's errors too: the person asks again, nothing is half-done
            log.exception("could not send %s to %s", template, to)

    transaction.on_commit(send)
