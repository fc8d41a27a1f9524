"""Reads of the agents' chat console: which chats wait for a person, and whose they are."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Substr

from accounts.roles import oversees_everything
from chat.models import Chat
from teams.models import TeamMembership
from tickets.models import ACTIVE_STATUSES, Channel, Message, Ticket
from tickets.selectors import tickets_visible_to

# Enough of the customer's last words to decide which chat to take.
EXCERPT_CHARS = 160


def _chats(user: AbstractBaseUser) -> QuerySet[Ticket]:
    """Active tickets the user may see that are chats: opened in chat, or continued there."""
    continued = Exists(Chat.objects.filter(ticket_id=OuterRef("pk")))
    return tickets_visible_to(user).filter(
        Q(channel=Channel.CHAT) | continued, status__in=ACTIVE_STATUSES
    )


def _my_teams_chats(user: AbstractBaseUser) -> QuerySet[Ticket]:
    """Active chats of the teams the user belongs to. Managers and admins who belong to no
    team watch every team's chats."""
    chats = _chats(user)
    in_my_teams = Exists(
        TeamMembership.objects.filter(team_id=OuterRef("team_id"), user_id=user.pk)
    )
    if oversees_everything(user):
        member_anywhere = Exists(TeamMembership.objects.filter(user_id=user.pk))
        return chats.filter(in_my_teams | ~member_anywhere)
    return chats.filter(in_my_teams)


def _with_waiting_facts(chats: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """`waiting_since`: the customer's first message after the last public answer (else when
    the chat started, else the ticket's last activity); `last_customer_words`: an excerpt of
    what they wrote last. Subqueries, so a page of chats costs one query."""
    last_answer = (
        Message.objects.filter(ticket_id=OuterRef("pk"), kind=Message.Kind.AGENT)
        .order_by("-id")
        .values("id")[:1]
    )
    customer_messages = Message.objects.filter(ticket_id=OuterRef("pk"), kind=Message.Kind.CUSTOMER)
    first_unanswered = (
        customer_messages.filter(id__gt=OuterRef("last_answer_id"))
        .order_by("id")
        .values("created_at")[:1]
    )
    last_words = customer_messages.order_by("-id").values("body")[:1]
    return chats.annotate(
        last_answer_id=Coalesce(Subquery(last_answer), Value(0)),
        waiting_since=Coalesce(
            Subquery(first_unanswered), F("chat__started_at"), F("last_activity_at")
        ),
        last_customer_words=Substr(Subquery(last_words), 1, EXCERPT_CHARS),
    ).select_related("team", "customer", "assignee")


def chats_waiting(*, user: AbstractBaseUser) -> QuerySet[Ticket]:
    """Chats of the user's teams that wait for a person: nobody has taken them, or nobody
    has answered the customer in public yet. Longest wait first."""
    answered = Message.objects.filter(ticket_id=OuterRef("pk"), kind=Message.Kind.AGENT)
    chats = _my_teams_chats(user).filter(Q(assignee__isnull=True) | ~Exists(answered))
    return _with_waiting_facts(chats).order_by("waiting_since", "pk")


def chats_taken_by(*, user: AbstractBaseUser) -> QuerySet[Ticket]:
    """Active chats assigned to the user: the conversations their console keeps open."""
    chats = _chats(user).filter(assignee_id=user.pk)
    return _with_waiting_facts(chats).order_by("waiting_since", "pk")
