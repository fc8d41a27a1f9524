"""A changed password revokes the account's API tokens, however it changes: a reset link, the
admin's form, `changepassword`, `set_password()` and `save()` anywhere. The hash is compared
before and after the user's row is saved; a save that names its fields without the password
(a login's `last_login`) costs no query. A bulk `QuerySet.update(password=...)` bypasses
signals, as it bypasses every save hook: nothing in the product does that."""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save

from accounts.services import api_tokens_revoke

User = get_user_model()
_BEFORE = "_password_before_save"


def _password_before(sender, instance, raw, update_fields, **kwargs):
    if raw or instance.pk is None:
        return
    if update_fields is not None and "password" not in update_fields:
        return
    before = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True)
    setattr(instance, _BEFORE, before.first())


def _password_after(sender, instance, created, raw, **kwargs):
    before = instance.__dict__.pop(_BEFORE, None)
    if before is not None and before != instance.password:
        api_tokens_revoke(user=instance)


def connect() -> None:
    pre_save.connect(_password_before, sender=User, dispatch_uid="accounts.password_before")
    post_save.connect(_password_after, sender=User, dispatch_uid="accounts.password_after")
