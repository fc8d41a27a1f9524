"""Seeding by SQL: many tickets in seconds, with their clocks and messages, as the services
would leave them."""

import dataclasses
import datetime
import time

SEED_SQL = """
CREATE TEMP TABLE staff_slots ON COMMIT DROP AS
SELECT team_id, user_id,
       row_number() OVER (PARTITION BY team_id ORDER BY user_id) - 1 AS slot,
       count(*) OVER (PARTITION BY team_id) AS slots
FROM teams_teammembership;
CREATE INDEX ON staff_slots (team_id, slot);

CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT base.*,
       CASE WHEN i %% 5 < 3
            THEN (SELECT user_id FROM staff_slots ss
                  WHERE ss.team_id = base.team_id AND ss.slot = (i * 31) %% ss.slots) END
           AS assignee_id
FROM (
    SELECT i,
           %(now)s - (%(n)s - i) * %(step)s::interval AS opened,
           (i > %(n)s * (1 - %(active)s)) AS active,
           (%(customers)s::int[])[1 + ((i * 7919) %% cardinality(%(customers)s::int[]))::int]
               AS customer_id,
           (%(teams)s::bigint[])[1 + ((i * 104729) %% cardinality(%(teams)s::bigint[]))::int]
               AS team_id,
           (ARRAY['billing','access','orders','vps','dedicated','network','other'])[1 + i %% 7]
               AS category,
           (ARRAY['web','email','api','chat'])[1 + (i / 7) %% 4] AS channel
    FROM generate_series(1::bigint, %(n)s) AS i
) AS base;

INSERT INTO tickets_ticket (reference, subject, category, status, priority, channel,
    customer_id, team_id, assignee_id, data_center, estimate_seconds, created_at, updated_at,
    last_activity_at, resolved_at, closed_at)
SELECT 'HD-' || extract(year FROM opened)::int || '-' || lpad(i::text, 7, '0'),
       'Seeded request ' || i || ': ' || category || ' problem on server srv' || (i %% 997),
       category,
       CASE WHEN active
            THEN (ARRAY['new','open','open','waiting_on_customer','pending_approval'])[1 + i %% 5]
            WHEN i %% 4 = 0 THEN 'resolved' ELSE 'closed' END,
       (ARRAY['low','normal','normal','normal','high','urgent'])[1 + i %% 6],
       channel, customer_id, team_id, assignee_id, '', NULL,
       opened, opened + interval '1 hour', opened + interval '1 hour',
       CASE WHEN active THEN NULL ELSE opened + interval '2 hours' END,
       CASE WHEN NOT active AND i %% 4 <> 0 THEN opened + interval '2 days' END
FROM seed ORDER BY i;

CREATE TEMP TABLE seeded ON COMMIT DROP AS
SELECT t.id AS ticket_id, t.status, t.team_id, t.customer_id, t.assignee_id, t.channel,
       t.created_at AS opened, s.i
FROM tickets_ticket t JOIN seed s ON t.reference = 'HD-' || extract(year FROM s.opened)::int
                                                  || '-' || lpad(s.i::text, 7, '0');

INSERT INTO tickets_message (ticket_id, kind, channel, author_id, body, client_id,
    email_message_id, created_at)
SELECT ticket_id, 'customer', channel, customer_id,
       'Hello, since this morning the server does not answer on port 443. ' ||
       'I have rebooted it from the panel twice; the console shows the login prompt.',
       NULL, '', opened
FROM seeded
UNION ALL
SELECT ticket_id, 'system', channel, NULL,
       'We have received your request and a person of the support team will answer soon.',
       NULL, '', opened + interval '1 second'
FROM seeded
UNION ALL
SELECT ticket_id, 'agent', channel, assignee_id,
       'We have looked at the server: the firewall rule is fixed, please check again.',
       NULL, '', opened + interval '1 hour'
FROM seeded WHERE assignee_id IS NOT NULL AND status <> 'new';

INSERT INTO tickets_event (ticket_id, actor_id, action, before, after, at)
SELECT ticket_id, customer_id, 'opened', '{}'::jsonb,
       jsonb_build_object('status', 'new', 'channel', channel), opened
FROM seeded;

INSERT INTO tickets_assignment (ticket_id, agent_id, assigned_at)
SELECT ticket_id, assignee_id, opened + interval '10 minutes'
FROM seeded WHERE assignee_id IS NOT NULL;

INSERT INTO sla_clock (ticket_id, metric, team_id, business, target_seconds, started_at,
    due_at, met_at, breached_at, cancelled_at, paused_at, paused_seconds, remaining_seconds,
    warned_at)
SELECT s.ticket_id, m.metric, s.team_id, m.business, m.target, s.opened,
       s.opened + m.target * interval '1 second',
       CASE WHEN m.metric = 'acknowledgement' THEN s.opened + interval '1 second'
            WHEN s.status IN ('resolved', 'closed') THEN s.opened + interval '1 hour'
            WHEN m.metric = 'first_response' AND s.status <> 'new'
                THEN s.opened + interval '5 minutes' END,
       CASE WHEN s.status NOT IN ('resolved', 'closed') AND m.metric <> 'acknowledgement'
             AND s.opened + m.target * interval '1 second' < %(now)s
             AND NOT (m.metric = 'first_response' AND s.status <> 'new')
            THEN s.opened + m.target * interval '1 second' END,
       NULL,
       CASE WHEN s.status = 'waiting_on_customer' AND m.business THEN s.opened END,
       0,
       CASE WHEN s.status = 'waiting_on_customer' AND m.business THEN m.target END,
       NULL
FROM seeded s
CROSS JOIN (VALUES ('acknowledgement', false, 120), ('first_response', false, 600),
                   ('status_update', true, 14400), ('resolution', true, 259200))
    AS m(metric, business, target);

-- Ticket.next_due_at, as sla.services keeps it: the running, unpaused clock due first (only
-- open tickets have one), a lookup by the clocks' ticket index each.
UPDATE tickets_ticket t SET next_due_at = (
    SELECT min(c.due_at) FROM sla_clock c
    WHERE c.ticket_id = t.id
      AND c.met_at IS NULL AND c.cancelled_at IS NULL AND c.paused_at IS NULL)
WHERE t.status IN ('new', 'open', 'waiting_on_customer', 'pending_approval');

INSERT INTO tickets_referencecounter (year, last)
SELECT extract(year FROM opened)::int, max(i) FROM seeded GROUP BY 1
ON CONFLICT (year) DO UPDATE SET last = greatest(tickets_referencecounter.last, EXCLUDED.last);
"""

SEED_CUSTOMERS_SQL = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
    is_staff, is_active, date_joined)
SELECT '!', false, 'seed-customer-' || c, 'Customer', c::text,
       'seed-customer-' || c || '@example.com', false, true, %(now)s
FROM generate_series(1, %(count)s) AS c;

INSERT INTO accounts_customerprofile (user_id, language, timezone, company, owned_address)
SELECT id, CASE WHEN id %% 3 = 0 THEN 'it' ELSE 'en' END, 'Europe/Rome', '', ''
FROM auth_user WHERE username LIKE 'seed-customer-%%';
"""


@dataclasses.dataclass(frozen=True)
class Seeded:
    tickets: int
    active: int
    customers: int
    seconds: float


def team_agents_seed(per_team: int) -> None:
    """`per_team` agents in every team (seed-agent-<team>-<n>), the assignees of the seed."""
    from django.contrib.auth import get_user_model

    from teams.models import Team, TeamMembership

    User = get_user_model()
    for team in Team.objects.order_by("pk"):
        agents = User.objects.bulk_create(
            User(
                username=f"seed-agent-{team.slug}-{n}",
                email=f"seed-agent-{team.slug}-{n}@example.com",
                password="!",  # unusable: nobody signs in as a seeded agent
                is_staff=True,
            )
            for n in range(1, per_team + 1)
        )
        TeamMembership.objects.bulk_create(
            TeamMembership(team=team, user=agent) for agent in agents
        )


def tickets_seed(
    count: int,
    *,
    customers: int | None = None,
    agents_per_team: int = 4,
    active_share: float = 0.1,
    span_days: int = 365,
    now: datetime.datetime | None = None,
) -> Seeded:
    """`count` tickets opened over `span_days`, the newest `active_share` still open, each with
    its first message, the acknowledgement, an agent's reply when assigned, the "opened" event,
    the assignment and its four SLA clocks (met, running, paused or breached as their status
    says). Pure SQL, in one transaction: ~100k tickets (about 900k rows) in well under a minute.

    Tickets are spread over every team (so an agent sees only their team's), over
    `customers` seeded customers (default: one per 50 tickets); three in five are assigned to
    a member of their team (`agents_per_team` seeded agents, plus the members already there,
    such as the bench agent of `people_create`). Seeded clocks name no policy version.
    References continue the per-year counter, so tickets opened later through the API follow on.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from escalation.routing import FIRST_LINE_TEAM
    from teams.models import Team

    User = get_user_model()
    now = now or timezone.now()
    customers = customers or max(1, count // 50)
    started = time.perf_counter()
    teams = list(Team.objects.order_by("pk").values_list("pk", "slug"))
    # Most requests stay with the first line; the other teams share the rest.
    first = [pk for pk, slug in teams if slug == FIRST_LINE_TEAM]
    team_weights = first * len(teams) + [pk for pk, slug in teams if slug != FIRST_LINE_TEAM]
    with transaction.atomic(), connection.cursor() as cursor:
        team_agents_seed(agents_per_team)
        cursor.execute(SEED_CUSTOMERS_SQL, {"now": now, "count": customers})
        customer_ids = list(
            User.objects.filter(username__startswith="seed-customer-").values_list("pk", flat=True)
        )
        cursor.execute(
            SEED_SQL,
            {
                "now": now,
                "n": count,
                "step": datetime.timedelta(days=span_days) / max(count, 1),
                "active": active_share,
                "customers": customer_ids,
                "teams": team_weights,
            },
        )
    # A long-lived table has been vacuumed: its visibility map lets counts read indexes only.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    from tickets.models import ACTIVE_STATUSES, Ticket

    return Seeded(
        tickets=count,
        active=Ticket.objects.filter(status__in=ACTIVE_STATUSES).count(),
        customers=len(customer_ids),
        seconds=time.perf_counter() - started,
    )
