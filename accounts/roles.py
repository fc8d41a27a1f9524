"""Who a person is to the helpdesk (API.md, "Roles"): customer, agent, manager or admin.

Decided here once; every page, endpoint, socket and use case asks these functions.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from core.errors import NotAllowed

MANAGERS_GROUP = "managers"


class Role:
    CUSTOMER = "customer"
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


def user_role(user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The user's role, None for anonymous and deactivated users: they have no access at all."""
    if not user.is_authenticated or not user.is_active:
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


def managers_to_tell():
    """The managers management's emails go to: active, with an address, their profiles (the
    language they read) joined, in a stable order."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name=MANAGERS_GROUP)
        .exclude(email="")
        .select_related("customer_profile")
        .order_by("pk")
    )


def user_current(user_id: int) -> AbstractBaseUser | None:
    """The user as the database has them now, their role resolved, in one query; None once
    deactivated or deleted. For connections that outlive a request (a socket), which must not
    act on what the user was when they connected."""
    User = get_user_model()
    in_managers = User.groups.through.objects.filter(
        user_id=OuterRef("pk"), group__name=MANAGERS_GROUP
    )
    user = User.objects.filter(pk=user_id, is_active=True).annotate(manager=Exists(in_managers))
    user = user.first()
    if user is not None and user.is_staff and not user.is_superuser:
        user._helpdesk_role = Role.MANAGER if user.manager else Role.AGENT
    return user
