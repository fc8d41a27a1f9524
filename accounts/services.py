"""Writes of accounts: customers and their profiles. Each runs in one transaction."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accounts.models import CustomerProfile

User = get_user_model()


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
    """Create or update a customer account and its profile."""
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=username)
        user.email = email
        user.first_name = first_name or user.first_name
        user.last_name = last_name or user.last_name
        user.is_staff = False
        user.is_superuser = False
        if password:
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.save()
        profile_defaults = {"language": language}
        if company:
            profile_defaults["company"] = company
        if timezone:
            profile_defaults["timezone"] = timezone
        CustomerProfile.objects.update_or_create(user=user, defaults=profile_defaults)
    return user


def customer_register(
    *, username: str, email: str, password: str | None, language: str = "en"
) -> AbstractBaseUser:
    """Sign-up: create, never update, so that two sign-ups racing for one username cannot
    overwrite each other (the loser gets IntegrityError from the unique username).
    `password=None` gives an unusable password (accounts created from an email)."""
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        CustomerProfile.objects.create(user=user, language=language)
    return user


def profile_set_language(*, user: AbstractBaseUser, language: str) -> None:
    CustomerProfile.objects.update_or_create(user=user, defaults={"language": language})
