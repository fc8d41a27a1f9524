"""A person's profile: what we need to talk to them in their language and time."""

import zoneinfo

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.validators import validate_timezone


class CustomerProfile(models.Model):
    """What we need to talk to a person in their language and time, and whether the address
    they gave is theirs.

    An account owns its address (`owned_address`, equal to its email) once the address is
    proven (a link we sent to it was followed, or a password was set through a reset link), or
    when it was created from the person's own email or by an operator. Only an owner files
    mail; an address has one owner at most.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_profile"
    )
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    timezone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Rome", validators=[validate_timezone]
    )
    company = models.CharField(_("company"), max_length=200, blank=True)
    owned_address = models.EmailField(
        _("owned address"),
        blank=True,
        default="",
        help_text=_("The email address this account owns, in lower case; empty when it owns none."),
    )
    address_proven_at = models.DateTimeField(
        _("address proven at"),
        null=True,
        blank=True,
        help_text=_("When a link sent to the address was followed, or a password reset."),
    )
    signup_pending_since = models.DateTimeField(
        _("sign-up pending since"),
        null=True,
        blank=True,
        help_text=_("A sign-up whose link has not been followed yet: the account is inactive."),
    )

    class Meta:
        verbose_name = _("customer profile")
        verbose_name_plural = _("customer profiles")
        constraints = [
            models.CheckConstraint(
                condition=Q(language__in=[code for code, _name in settings.LANGUAGES]),
                name="profile_language_known",
            ),
            models.UniqueConstraint(
                fields=["owned_address"],
                condition=~Q(owned_address=""),
                name="profile_owned_address_unique",
            ),
        ]

    def __str__(self) -> str:
        return str(self.user)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)
