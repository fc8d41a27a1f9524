"""`/metrics`: the SLA engine in Prometheus' text format, for operators.

The numbers are read from the database at scrape time (a custom collector), so every web
process answers the same and nothing is lost when one restarts. Not public: with
`METRICS_TOKEN` set, a scrape must send `Authorization: Bearer <token>`; without it, only
loopback clients may scrape. Anyone else gets a plain 404.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.utils import floatToGoString

from sla import selectors
from sla.policy import Metric
from teams.models import Team

LABELS = ["team", "metric"]


def _per_team_and_metric(rows: list[dict], key: str, team_slugs: dict[int, str]) -> dict:
    """Every team and metric, zero where no row: a series that appears late breaks rate()."""
    values = {(slug, m.value): 0 for slug in team_slugs.values() for m in Metric}
    for row in rows:
        values[team_slugs[row["team_id"]], row["metric"]] = row[key]
    return values


class SlaCollector:
    """One scrape: a fixed number of aggregate queries, whatever the size of the tables."""

    def collect(self):
        now = timezone.now()
        team_slugs = dict(Team.objects.values_list("pk", "slug"))
        open_rows = selectors.clocks_open_counts()
        breach_rows = selectors.breach_counts()

        families = [
            (
                GaugeMetricFamily(
                    "helpdesk_sla_clocks_open",
                    "Promises running now (paused ones included), by team and metric.",
                    labels=LABELS,
                ),
                open_rows,
                "open",
            ),
            (
                GaugeMetricFamily(
                    "helpdesk_sla_clocks_paused",
                    "Running promises paused while the ticket waits on the customer or on "
                    "management.",
                    labels=LABELS,
                ),
                open_rows,
                "paused",
            ),
            (
                GaugeMetricFamily(
                    "helpdesk_sla_clocks_missed_open",
                    "Running promises already missed (breached) and still not met.",
                    labels=LABELS,
                ),
                open_rows,
                "breached",
            ),
            (
                CounterMetricFamily(
                    "helpdesk_sla_breaches",
                    "Missed promises recorded by the sweep, by team and metric.",
                    labels=LABELS,
                ),
                breach_rows,
                "breaches",
            ),
            (
                GaugeMetricFamily(
                    "helpdesk_sla_breaches_unnotified",
                    "Breaches the managers have not yet been emailed about.",
                    labels=LABELS,
                ),
                breach_rows,
                "unnotified",
            ),
        ]
        for family, rows, key in families:
            for (team, metric), value in _per_team_and_metric(rows, key, team_slugs).items():
                family.add_metric([team, metric], value)
            yield family

        latency = selectors.acknowledgement_latency()
        yield HistogramMetricFamily(
            "helpdesk_sla_acknowledgement_latency_seconds",
            "From a request's arrival to its automatic acknowledgement.",
            buckets=[
                *((floatToGoString(bound), n) for bound, n in latency["buckets"].items()),
                ("+Inf", latency["count"]),
            ],
            sum_value=latency["sum_seconds"],
        )

        outbox = selectors.outbox_counts(now=now)
        emails = GaugeMetricFamily(
            "helpdesk_outbox_emails",
            "Outgoing emails not yet delivered, by state.",
            labels=["state"],
        )
        for state, count in outbox["states"].items():
            emails.add_metric([state], count)
        yield emails
        yield GaugeMetricFamily(
            "helpdesk_outbox_oldest_pending_seconds",
            "Age of the oldest email waiting to be delivered; 0 when none waits.",
            value=outbox["oldest_pending_seconds"],
        )


def scrape_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return (mapped or address).is_loopback


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not scrape_allowed(request):
        raise Http404("No such page.")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SlaCollector())
    # The classic text format, or OpenMetrics when the scraper asks for it, as the library's
    # own exporters answer.
    encoder, content_type = choose_encoder(request.headers.get("Accept"))
    return HttpResponse(encoder(registry), content_type=content_type)
