"""The public status page: the open incidents first with their updates, then those resolved in
the last 90 days, per site and service; one incident's page; the Atom feed; following an
incident instead of writing; and the panel of known problems above the new-ticket and chat
forms.

It is the page everybody opens during an outage. The incidents part is rendered once per
language, time zone and filter for each version of the incidents (`incidents:version`, which
every saved incident bumps) and kept a minute in the shared cache: a visit then costs no query
for the incidents. The page around it (who is signed in, the language form's token) is
rendered for each visitor; browsers and proxies may keep the whole page a few seconds.
"""

import datetime
import hashlib
import json
import logging
import zoneinfo
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.contrib.syndication.views import Feed
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape, linebreaks
from django.utils.http import parse_http_date_safe
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from accounts.selectors import zone_of
from incidents.models import Incident, Status
from incidents.selectors import (
    HISTORY_DAYS,
    customer_sites,
    incidents_for_sites,
    incidents_listed,
    open_covers,
    status_page,
)
from portal.forms import StatusFilterForm
from usecases.incidents import incident_follow

log = logging.getLogger(__name__)

# How long a rendered part is kept: a new version replaces it at once; the time bounds how late
# an incident leaves the 90 days' history.
RENDERED_SECONDS = 60
# How long browsers and proxies may keep a page or the feed.
PAGE_MAX_AGE = 15
FEED_MAX_AGE = 60


def _rendered(name: str, parts: tuple, build):
    """`build()`'s result for the current version of the incidents, from the shared cache when
    another visitor asked the same first; built each time without the cache."""
    version = open_covers.version()  # the version of every incident, not only of the open ones
    if version is None:
        return build()
    described = json.dumps([name, version, translation.get_language(), *parts])
    key = f"status:{hashlib.sha256(described.encode()).hexdigest()}"
    try:
        found = cache.get(key)
    except Exception:  # the cache's connection errors: the page is built without it
        log.warning("status page read without the cache", exc_info=True)
        return build()
    if found is not None:
        return found
    value = build()
    if value is None:  # nothing to show (an unknown incident): nothing to keep
        return value
    try:
        cache.set(key, value, RENDERED_SECONDS)
    except Exception:
        log.warning("status page not kept in the cache", exc_info=True)
    return value


def _cacheable(
    request: HttpRequest, response: HttpResponse, max_age: int, *, personal: bool = True
) -> HttpResponse:
    """Shared caches may keep what an anonymous visitor sees; a signed-in person's page (their
    name in the header) stays in their own browser. The language follows the headers and the
    language cookie."""
    if response.status_code == 200:
        if personal and request.user.is_authenticated:
            patch_cache_control(response, private=True, max_age=max_age)
        else:
            patch_cache_control(response, public=True, max_age=max_age)
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    return response


def _filter_links(param: str, values: list[tuple[str, str]], chosen: dict[str, str]) -> list:
    """One link per value of `param` (the first, "", shows all), keeping the other filter."""
    links = []
    for value, label in values:
        query = {**chosen, param: value}
        query = {key: kept for key, kept in query.items() if kept}
        links.append(
            {
                "label": label,
                "url": reverse("status:page") + (f"?{urlencode(query)}" if query else ""),
                "current": chosen.get(param, "") == value,
            }
        )
    return links


def _page_part(*, zone: zoneinfo.ZoneInfo, site: str, service: str) -> str:
    open_ones, resolved = status_page(now=timezone.now())
    everything = open_ones + resolved
    sites = sorted({incident.data_center for incident in everything if incident.data_center})
    services = sorted(
        {incident.service for incident in everything if incident.service}, key=str.casefold
    )
    # A service asked in other letters is the one the incidents name.
    service = next((known for known in services if known.casefold() == service.casefold()), service)
    chosen = {"site": site, "service": service}

    def shown(incident: Incident) -> bool:
        # An incident of no site touches every site.
        return (not site or incident.data_center in (site, "")) and (
            not service or incident.service.casefold() == service.casefold()
        )

    context = {
        "open_incidents": [incident for incident in open_ones if shown(incident)],
        "resolved_incidents": [incident for incident in resolved if shown(incident)],
        "history_days": HISTORY_DAYS,
        "site": site,
        "service": service,
        "site_links": _filter_links(
            "site", [("", _("All sites")), *((s, s.upper()) for s in sites)], chosen
        )
        if sites
        else [],
        "service_links": _filter_links(
            "service", [("", _("All services")), *((s, s) for s in services)], chosen
        )
        if services
        else [],
        "viewer_zone": zone.key,
    }
    with timezone.override(zone):
        return render_to_string("portal/status/_incidents.html", context)


@require_safe
def page(request: HttpRequest) -> HttpResponse:
    form = StatusFilterForm(request.GET)
    valid = form.is_valid()
    site = form.cleaned_data["site"] if valid else ""
    service = form.cleaned_data["service"].strip() if valid else ""
    zone = zone_of(request.user)
    part = _rendered(
        "page",
        (zone.key, site, service),
        lambda: _page_part(zone=zone, site=site, service=service),
    )
    response = render(
        request,
        "portal/status/page.html",
        {"incidents_part": mark_safe(part), "bad_filter": not valid},  # noqa: S308 (our own render)
        status=200 if valid else 400,
    )
    return _cacheable(request, response, PAGE_MAX_AGE)


def _incident_part(*, incident_id: int, zone: zoneinfo.ZoneInfo) -> tuple[str, str] | None:
    incident = incidents_listed().filter(pk=incident_id).first()
    if incident is None:
        return None
    with timezone.override(zone):
        html = render_to_string(
            "portal/status/_incident.html",
            {"incident": incident, "detail": True, "viewer_zone": zone.key},
        )
    return incident.title, html


@require_safe
def incident(request: HttpRequest, incident_id: int) -> HttpResponse:
    zone = zone_of(request.user)
    found = _rendered(
        "incident",
        (zone.key, incident_id),
        lambda: _incident_part(incident_id=incident_id, zone=zone),
    )
    if found is None:
        raise Http404("No such incident.")
    title, part = found
    response = render(
        request,
        "portal/status/incident.html",
        {
            "title": title,
            "incident_part": mark_safe(part),  # noqa: S308 (our own render)
            "viewer_zone": zone.key,
        },
    )
    return _cacheable(request, response, PAGE_MAX_AGE)


@require_http_methods(["GET", "POST"])
def follow(request: HttpRequest, incident_id: int) -> HttpResponse:
    """Follow an incident instead of writing: counted once per customer (a POST from the
    known-problems panel), then its page. A GET only leads to the page (the way back after
    signing in), so a link elsewhere counts no one."""
    url = reverse("status:incident", kwargs={"incident_id": incident_id})
    if request.method == "GET":
        return redirect(url)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    incident_follow(incident_id=incident_id, customer=request.user, now=timezone.now())
    return redirect(url)


def known_incidents(customer) -> list[dict]:
    """The open incidents on the customer's sites (and those of no site), each with its latest
    update: what the new-ticket and chat pages show before the form. Three queries."""
    return [
        {"incident": incident, "latest": next(iter(incident.updates.all()), None)}
        for incident in incidents_for_sites(customer_sites(customer))
    ]


@dataclass(frozen=True)
class Entry:
    """One entry of the feed: an incident opened, or one of its updates."""

    guid: str
    title: str
    body: str
    path: str
    published: datetime.datetime
    updated: datetime.datetime


class IncidentsFeed(Feed):
    feed_type = Atom1Feed
    author_name = "INTROSERV"

    def title(self) -> str:
        return _("INTROSERV service status")

    def subtitle(self) -> str:
        return _(
            "Open incidents and those resolved in the last %(days)d days, with every update."
        ) % {"days": HISTORY_DAYS}

    def link(self) -> str:
        return reverse("status:page")

    def items(self) -> list[Entry]:
        open_ones, resolved = status_page(now=timezone.now())
        entries = []
        for incident in open_ones + resolved:
            path = reverse("status:incident", kwargs={"incident_id": incident.pk})
            entries.append(
                Entry(
                    guid=f"incident-{incident.pk}",
                    title=_("%(title)s: opened") % {"title": incident.title},
                    body=incident.description,
                    path=path,
                    published=incident.started_at,
                    updated=incident.updated_at,
                )
            )
            for update in incident.updates.all():
                entries.append(
                    Entry(
                        guid=f"update-{update.pk}",
                        title=_("%(title)s: %(status)s")
                        % {"title": incident.title, "status": Status(update.status).label},
                        body=update.body,
                        path=f"{path}#update-{update.pk}",
                        published=update.created_at,
                        updated=update.created_at,
                    )
                )
        return sorted(entries, key=lambda entry: (entry.published, entry.guid), reverse=True)

    def item_title(self, item: Entry) -> str:
        return item.title

    def item_description(self, item: Entry) -> str:
        # Atom's summary is HTML: the words as written, escaped, their lines kept.
        return linebreaks(escape(item.body))

    def item_link(self, item: Entry) -> str:
        return item.path

    def item_guid(self, item: Entry) -> str:
        return f"tag:introserv,status:{item.guid}"

    def item_pubdate(self, item: Entry) -> datetime.datetime:
        return item.published

    def item_updateddate(self, item: Entry) -> datetime.datetime:
        return item.updated


@require_safe
def feed(request: HttpRequest) -> HttpResponse:
    def build() -> tuple[bytes, str, str]:
        built = IncidentsFeed()(request)
        return built.content, built["Content-Type"], built["Last-Modified"]

    content, content_type, last_modified = _rendered("feed", (request.get_host(),), build)
    response = HttpResponse(content, content_type=content_type)
    response["Last-Modified"] = last_modified
    response = _cacheable(request, response, FEED_MAX_AGE, personal=False)
    return get_conditional_response(
        request, last_modified=parse_http_date_safe(last_modified), response=response
    )
