"""Reads shared by every interface. Who may see a ticket is decided here, once."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from accounts.roles import MANAGERS_GROUP, Role, is_staff_role, oversees_everything, user_role
from teams.models import TeamMembership
from tickets.models import Assignment, Attachment, Message, TeamAccess, Ticket

User = get_user_model()


def tickets_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Ticket]:
    """Every ticket the user may see; the one rule behind pages, API, sockets and files."""
    role = user_role(user)
    tickets = Ticket.objects.all()
    if oversees_everything(user):
        return tickets
    if role == Role.AGENT:
        # Uncorrelated IN, not EXISTS per row: PostgreSQL hashes each list once, so the
        # planner can walk an ordered index and stop at a page (bench/lists.py).
        my_teams = TeamMembership.objects.filter(user_id=user.pk).values("team_id")
        worked_on = Assignment.objects.filter(agent_id=user.pk).values("ticket_id")
        consulted = TeamAccess.objects.filter(team_id__in=my_teams).values("ticket_id")
        return tickets.filter(
            Q(team_id__in=my_teams)
            | Q(assignee_id=user.pk)
            | Q(pk__in=worked_on)
            | Q(pk__in=consulted)
        )
    if role == Role.CUSTOMER:
        return tickets.filter(customer_id=user.pk)
    return tickets.none()


def access_ticket(
    user: AbstractBaseUser | AnonymousUser, ticket_id: int, *, lock: bool = False
) -> Ticket:
    """The ticket if `user` may see it, else 404: ids the caller may not see cannot be probed.

    With `lock`, the row is locked first on its own, then read with its team, customer and
    assignee. Locking the joined query instead would, after waiting for a writer that moved the
    ticket (another team, another assignee), recheck the new row against the joined rows it had
    read before the wait (PostgreSQL's EvalPlanQual does not fetch them again): no row, a 404
    for a ticket the caller may still see.
    """
    try:
        if lock:
            visible = tickets_visible_to(user).select_for_update(of=("self",))
            if not list(visible.filter(pk=ticket_id).values_list("pk", flat=True)):
                raise Ticket.DoesNotExist
            return Ticket.objects.select_related("team", "customer", "assignee").get(pk=ticket_id)
        return (
            tickets_visible_to(user)
            .select_related("team", "customer", "assignee")
            .get(pk=ticket_id)
        )
    except (Ticket.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise Http404("No such ticket.") from exc


def message_kinds_visible_to(user: AbstractBaseUser | AnonymousUser) -> tuple[str, ...]:
    """Customers read the conversation; internal notes stay with staff."""
    if is_staff_role(user_role(user)):
        return tuple(Message.Kind.values)
    return (Message.Kind.CUSTOMER, Message.Kind.AGENT, Message.Kind.SYSTEM)


def access_attachment(
    user: AbstractBaseUser | AnonymousUser,
    *,
    attachment_id: int | None = None,
    token: str | None = None,
    ticket_id: int | None = None,
) -> Attachment:
    """An attachment of a ticket `user` may see and of a message they may read, else 404."""
    lookup = {"pk": attachment_id} if attachment_id is not None else {"token": token}
    if ticket_id is not None:
        lookup["message__ticket_id"] = ticket_id
    try:
        attachment = Attachment.objects.select_related("message").get(**lookup)
    except (Attachment.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise Http404("No such attachment.") from exc
    access_ticket(user, attachment.message.ticket_id)
    if attachment.message.kind not in message_kinds_visible_to(user):
        raise Http404("No such attachment.")
    return attachment


def with_authors(messages: QuerySet[Message]) -> QuerySet[Message]:
    """`messages` with what a rendered message shows of its author, role included, in the
    query (`tickets.rendering`)."""
    in_managers = User.groups.through.objects.filter(
        user_id=OuterRef("author_id"), group__name=MANAGERS_GROUP
    )
    return messages.select_related("author").annotate(author_is_manager=Exists(in_managers))


def thread_visible_to(user, ticket: Ticket) -> QuerySet[Message]:
    """The messages of a ticket `user` may read: customers never see internal notes."""
    messages = (
        with_authors(Message.objects.filter(ticket_id=ticket.pk))
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    return messages.filter(kind__in=message_kinds_visible_to(user))


# A page of a thread: what a page, a socket's replay or a request for older messages shows at
# once. A long thread is read newest first, older pages on demand, never whole.
THREAD_PAGE = 50


def thread_page(
    messages: QuerySet[Message],
    *,
    after: int = 0,
    before: int | None = None,
    size: int = THREAD_PAGE,
) -> tuple[list[Message], bool]:
    """The newest `size` of `messages` with `after` < id < `before`, oldest first, and whether
    older ones remain in that range. One query (plus the queryset's prefetches)."""
    messages = messages.filter(pk__gt=after)
    if before is not None:
        messages = messages.filter(pk__lt=before)
    newest_first = list(messages.order_by("-id")[: size + 1])
    return newest_first[:size][::-1], len(newest_first) > size
