"""List pages at scale: the API's ticket list, the agents' admin queue and the customer's
"My tickets", through a real uvicorn on PostgreSQL seeded with 10k and 100k tickets.

    .venv/bin/python -m bench.lists --name bt --redis-db 3
    .venv/bin/python -m bench.lists --tickets 100000 --requests 50

For each size the database is created afresh and seeded (bench.seed.tickets_seed: a tenth of
the tickets still open, spread over the teams; the customer is a seeded one, with about 50
tickets), then every page below is fetched `--requests`
times over one keep-alive connection, after a few warm-up fetches. Printed per page: p50, p95
and max latency, the answer's size, and the SQL statements one fetch costs (counted in this
process with CaptureQueriesContext around the same request through django.test.Client).
"""

import argparse
import dataclasses

from bench.harness import environment, httpclient, persons, processes, report, seed

WARMUP_REQUESTS = 3


@dataclasses.dataclass(frozen=True)
class Page:
    label: str
    path: str
    who: str  # "agent", "manager" or "customer"
    session: bool = False  # signed in with a session cookie (HTML pages), else an API token


PAGES = [
    Page("API list, agent", "/api/v1/tickets/", "agent"),
    Page("API list, manager", "/api/v1/tickets/", "manager"),
    Page("API list, manager, open", "/api/v1/tickets/?status=open", "manager"),
    # The queue's default: the agent's teams, open tickets, by next deadline.
    Page("API list, customer", "/api/v1/tickets/", "customer"),
    Page("admin queue, agent (default)", "/admin/tickets/ticket/", "agent", session=True),
    Page(
        "admin queue, agent, all by deadline",
        "/admin/tickets/ticket/?queue=all&o=7",
        "agent",
        session=True,
    ),
    Page(
        "admin queue, manager, all by deadline",
        "/admin/tickets/ticket/?queue=all&o=7",
        "manager",
        session=True,
    ),
    Page("portal: My tickets, customer", "/tickets/", "customer", session=True),
]


def seeded_customer() -> persons.Person:
    """The first seeded customer (about one ticket in 50 of the seed is theirs), with a token."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.filter(username__startswith="seed-customer-").order_by("pk")[0]
    return persons.Person(user=user, token=Token.objects.create(user=user).key)


def person_of(page: Page, people: persons.People, customer: persons.Person) -> persons.Person:
    return customer if page.who == "customer" else getattr(people, page.who)


def queries_of_page(page: Page, person: persons.Person) -> tuple[int, int]:
    """SQL statements and response bytes of one fetch, in process."""
    from django.test import Client

    if page.session:
        client = Client()
        client.force_login(person.user)
    else:
        client = Client(HTTP_AUTHORIZATION=f"Token {person.token}")
    answers = []
    client.get(page.path)  # warm caches (content types, permissions)
    count, _sql = report.queries_of(lambda: answers.append(client.get(page.path)))
    if answers[0].status_code != 200:
        raise RuntimeError(f"{page.path} as {page.who} answered {answers[0].status_code}")
    return count, len(answers[0].content)


def time_page(server: processes.Server, page: Page, person: persons.Person, requests: int):
    from django.contrib.auth import get_user_model

    if page.session:
        user = get_user_model().objects.get(pk=person.user.pk)
        client = httpclient.HttpClient(server.port, cookie=persons.session_cookie(user))
    else:
        client = httpclient.HttpClient(server.port, token=person.token)
    try:
        for _ in range(WARMUP_REQUESTS):
            client.request("GET", page.path)
        samples = []
        for _ in range(requests):
            status, _body, seconds = client.request("GET", page.path)
            if status != 200:
                raise RuntimeError(f"{page.path} as {page.who} answered {status}")
            samples.append(seconds)
    finally:
        client.close()
    return report.latency_summary(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lists", description=__doc__)
    environment.add_arguments(parser)
    parser.add_argument(
        "--tickets", type=int, nargs="+", default=[10_000, 100_000], help="database sizes"
    )
    parser.add_argument("--requests", type=int, default=30, help="timed fetches per page")
    parser.add_argument(
        "--active-share", type=float, default=0.1, help="share of the tickets still open"
    )
    args = parser.parse_args(argv)

    bench = environment.Bench.from_args(args)
    bench.setup()
    print_header = True
    for size in args.tickets:
        bench.database_recreate()
        people = persons.people_create(customers=1)
        seeded = seed.tickets_seed(size, active_share=args.active_share)
        customer = seeded_customer()
        if print_header:
            print(report.report_header("Lists: API ticket list and admin queue"))
            print_header = False
        print(
            f"-- {seeded.tickets} tickets ({seeded.active} open, {seeded.customers} customers), "
            f"seeded in {seeded.seconds:.1f} s; uvicorn x{bench.web_workers}"
        )
        print(
            f"{'page':<40} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'queries':>7} "
            f"{'bytes':>7} {'load':>14}"
        )
        with processes.Server(bench) as server:
            for page in PAGES:
                person = person_of(page, people, customer)
                queries, size_bytes = queries_of_page(page, person)
                figures = time_page(server, page, person, args.requests)
                print(
                    f"{page.label:<40} {figures['p50_ms']:>7.1f} {figures['p95_ms']:>7.1f} "
                    f"{figures['max_ms']:>7.1f} {queries:>7} {size_bytes:>7} "
                    f"{report.load_average():>14}"
                )


if __name__ == "__main__":
    main()
