"""The managers' SLA dashboard, `/dashboard/sla/`: compliance, missed promises, what is at risk,
and the incidents of the period with their figures.

Thin: the form parses the filters, `sla.selectors` reads, the template renders. Managers and
admins only: anonymous visitors are sent to log in, everybody else gets the site's 404.
"""

import datetime

import redis
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.roles import oversees_everything
from desk.forms import DashboardFilterForm, Window
from incidents import selectors as incidents
from sla import selectors
from sla.policy import Metric

BREACHES_PER_PAGE = 25
AT_RISK_SHOWN = 50
INCIDENTS_SHOWN = 50
# A manager's visit ends after this long without loading the dashboard: breaches detected
# since the end of the previous visit are marked new for the whole of the next one.
VISIT_GAP = datetime.timedelta(minutes=30)
SEEN_TTL_SECONDS = 90 * 24 * 3600


def _seen_key(user) -> str:
    return f"sla-dashboard-seen:{user.pk}"


def breaches_seen_before(user, now: datetime.datetime) -> datetime.datetime | None:
    """The moment up to which `user` has seen the breaches (None: no earlier visit), and
    this view counted as a visit.

    Kept per manager in the shared cache, not the database: losing it only resets the "new"
    marks, and reloading, filtering or paging within one visit keeps them.
    """
    try:
        state = cache.get(_seen_key(user)) or {}
        last_view, seen_before = state.get("last_view"), state.get("seen_before")
        if last_view is None or now - last_view > VISIT_GAP:
            seen_before = last_view
        cache.set(_seen_key(user), {"seen_before": seen_before, "last_view": now}, SEEN_TTL_SECONDS)
    except redis.RedisError:
        return None
    return seen_before


def _open_by_metric(rows: list[dict]) -> list[dict]:
    totals = {m.value: {"metric": m, "open": 0, "paused": 0, "breached": 0} for m in Metric}
    for row in rows:
        total = totals[row["metric"]]
        for key in ("open", "paused", "breached"):
            total[key] += row[key]
    return list(totals.values())


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not oversees_everything(request.user):
        raise Http404("No such page.")
    now = timezone.now()
    form = DashboardFilterForm(request.GET)
    valid = form.is_valid()
    filters = form.filters()
    since, until = Window.bounds(filters["window"], now)

    breaches = selectors.breaches_filtered(team=filters["team"], metric=filters["metric"])
    page = Paginator(breaches, BREACHES_PER_PAGE).get_page(filters["page"])
    seen_before = breaches_seen_before(request.user, now)
    for breach in page:
        breach.is_new = seen_before is not None and breach.detected_at > seen_before

    at_risk = selectors.clocks_at_risk(now=now, margin_seconds=settings.SLA_WARNING_MARGIN_SECONDS)
    at_risk_shown = list(at_risk[: AT_RISK_SHOWN + 1])
    open_rows = _open_by_metric(selectors.clocks_open_counts())
    summary = [row for row in selectors.compliance_summary(since=since, until=until) if row.total]
    started = incidents.figures_listed(
        incidents.incidents_started(since=since, until=until), limit=INCIDENTS_SHOWN + 1
    )
    context = {
        "form": form,
        "filters": filters,
        "windows": Window.CHOICES,
        "since": since,
        "until": until,
        "now": now,
        "summary": summary,
        "page": page,
        "filter_query": _query(filters, exclude=("page",)),
        "at_risk": at_risk_shown[:AT_RISK_SHOWN],
        "at_risk_more": len(at_risk_shown) > AT_RISK_SHOWN,
        "margin_minutes": settings.SLA_WARNING_MARGIN_SECONDS // 60,
        "open_clocks": open_rows,
        "open_total": sum(row["open"] for row in open_rows),
        "time_zone": timezone.get_current_timezone_name(),
        "incidents": started[:INCIDENTS_SHOWN],
        "incidents_more": len(started) > INCIDENTS_SHOWN,
        "deflected": sum(figures.follows for _incident, figures in started[:INCIDENTS_SHOWN]),
    }
    return render(request, "desk/sla_dashboard.html", context, status=200 if valid else 400)


def _query(filters: dict, *, exclude: tuple[str, ...]) -> str:
    """The valid filters as a query string, for links that change one of them."""
    query = QueryDict(mutable=True)
    values = {
        "window": filters["window"],
        "team": filters["team"].slug if filters["team"] else "",
        "metric": filters["metric"] or "",
    }
    for name, value in values.items():
        if value and name not in exclude:
            query[name] = value
    return query.urlencode()
