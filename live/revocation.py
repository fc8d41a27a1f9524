"""Access follows revocation: whatever saves a person or their team memberships (the admin, a
command, a service) tells that person's sockets after COMMIT to check their access again; a
socket that lost its ticket closes (live.consumers). Bulk updates send no signal: every frame a
socket receives is checked anyway, and each socket checks again on its heartbeat."""

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save

from core.effects import broadcast_on_commit
from teams.models import TeamMembership

User = get_user_model()


def person_group(user_id: int) -> str:
    """Every socket of one person, whatever the conversation."""
    return f"person.{user_id}"


def access_changed_on_commit(user_id: int) -> None:
    broadcast_on_commit(person_group(user_id), {"type": "access.changed"})


def _user_saved(sender, instance, **kwargs) -> None:
    # Deactivated, no longer staff, no longer an admin: the sockets find out which.
    access_changed_on_commit(instance.pk)


def _groups_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if reverse:  # group.user_set.remove(...): the users are the changed side
        for user_id in pk_set or ():
            access_changed_on_commit(user_id)
    else:
        access_changed_on_commit(instance.pk)


def _membership_changed(sender, instance, **kwargs) -> None:
    access_changed_on_commit(instance.user_id)


def connect() -> None:
    post_save.connect(_user_saved, sender=User, dispatch_uid="live.user_saved")
    m2m_changed.connect(
        _groups_changed, sender=User.groups.through, dispatch_uid="live.groups_changed"
    )
    post_save.connect(
        _membership_changed, sender=TeamMembership, dispatch_uid="live.membership_saved"
    )
    post_delete.connect(
        _membership_changed, sender=TeamMembership, dispatch_uid="live.membership_deleted"
    )
