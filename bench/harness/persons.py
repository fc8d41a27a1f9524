"""The people of a benchmark: API customers, a first-line agent and a manager, with tokens."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Person:
    user: object
    token: str


@dataclasses.dataclass(frozen=True)
class People:
    customers: list[Person]
    agent: Person  # member of the first line (support) team
    manager: Person  # in the managers group, member of no team


def people_create(*, customers: int = 4) -> People:
    """API customers, a first-line agent and a manager, each with an API token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from accounts.roles import MANAGERS_GROUP
    from accounts.services import customer_upsert
    from escalation.routing import FIRST_LINE_TEAM
    from teams.models import Team, TeamMembership

    User = get_user_model()

    def with_token(user) -> Person:
        return Person(user=user, token=Token.objects.create(user=user).key)

    api_customers = [
        with_token(
            customer_upsert(username=f"api-customer-{n}", email=f"api-customer-{n}@example.com")
        )
        for n in range(1, customers + 1)
    ]
    agent = User.objects.create_user(
        username="bench-agent", email="bench-agent@example.com", is_staff=True
    )
    TeamMembership.objects.create(team=Team.objects.get(slug=FIRST_LINE_TEAM), user=agent)
    manager = User.objects.create_user(
        username="bench-manager", email="bench-manager@example.com", is_staff=True
    )
    manager.groups.add(Group.objects.get(name=MANAGERS_GROUP))
    return People(customers=api_customers, agent=with_token(agent), manager=with_token(manager))


def session_cookie(user) -> str:
    """A signed-in session for `user`, as the login form would leave it: `sessionid=...`."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
