from django.contrib import admin
from django.urls import include, path

from chat.urls import console_urlpatterns
from helpdesk import views
from sla import metrics

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/chat/", include((console_urlpatterns, "chat_console"))),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("tickets.urls_api")),
    path("accounts/", include("tickets.urls_accounts")),
    path("tickets/", include(("tickets.urls_portal", "tickets"))),
    path("dashboard/sla/", include("sla.urls")),
    path("chat/", include(("chat.urls", "chat"))),
    path("", include("tickets.urls")),
]

# JSON under /api/, the site's pages elsewhere: no request gets Django's bare error page.
handler404 = "helpdesk.api_errors.page_not_found"
handler500 = "helpdesk.api_errors.server_error"
