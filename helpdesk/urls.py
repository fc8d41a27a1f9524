from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from accounts import urls as accounts_urls
from core.throttle import throttled
from desk.urls import console_urlpatterns, dashboard_urlpatterns
from helpdesk import views
from portal import home
from portal.urls import chat_urlpatterns, status_urlpatterns
from sla import metrics

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/chat/", include((console_urlpatterns, "chat_console"))),
    # The support structure's admin pages moved with its models from `escalation` to `teams`.
    re_path(
        r"^admin/escalation/(?P<rest>(?:team|teammembership|workinghours|holiday)/.*)$",
        RedirectView.as_view(url="/admin/teams/%(rest)s", permanent=True, query_string=True),
    ),
    # The admin's login is the portal's door: one count per address and per username.
    path(
        "admin/login/",
        throttled("login", accounts_urls.username_given)(admin.site.login),
    ),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("api.urls")),
    path("accounts/", include(accounts_urls)),
    path("tickets/", include(("portal.urls", "tickets"))),
    path("dashboard/sla/", include((dashboard_urlpatterns, "sla"))),
    path("chat/", include((chat_urlpatterns, "chat"))),
    path("status/", include((status_urlpatterns, "status"))),
    path("", home.home, name="home"),
]

# JSON under /api/, the site's pages elsewhere: no request gets Django's bare error page.
handler404 = "api.errors.page_not_found"
handler500 = "api.errors.server_error"
