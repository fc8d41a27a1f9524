"""Who a person is to the helpdesk (API.md, "Roles"): customer, agent, manager or admin.

Decided here once; every page, endpoint, socket and use case asks these functions.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils.translation import gettext as _

from core.errors import NotAllowed

MANAGERS_GROUP = "managers"


class Role:
    CUSTOMER = "customer"
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


def user_role(user: AbstractBaseUser | AnonymousUser) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    if not user.is_staff:
        return Role.CUSTOMER
    # `_helpdesk_role` caches the group lookup for the life of the request's user object.
    role = getattr(user, "_helpdesk_role", None)
    if role is None:
        role = Role.MANAGER if user.groups.filter(name=MANAGERS_GROUP).exists() else Role.AGENT
        user._helpdesk_role = role
    return role


def is_staff_role(role: str | None) -> bool:
    return role in (Role.AGENT, Role.MANAGER, Role.ADMIN)


def oversees_everything(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Managers and admins: every ticket, the SLA reports, every team's chats."""
    return user_role(user) in (Role.MANAGER, Role.ADMIN)


def staff_required(user: AbstractBaseUser | AnonymousUser) -> str:
    """The user's role when they are support staff; NotAllowed (403) otherwise."""
    role = user_role(user)
    if not is_staff_role(role):
        raise NotAllowed(_("Only support staff can do this."))
    return role
