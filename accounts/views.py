"""Account pages: sign up and the language switch. Django's auth views do the rest."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import LANGUAGE_QUERY_PARAMETER, set_language

from accounts import services
from accounts.forms import SignupForm


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing in: a safe `next`, else the customer's tickets."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    if request.method == "POST":
        form = SignupForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = services.customer_register(
                    username=data["username"],
                    email=data["email"],
                    password=data["password1"],
                    language=data["language"],
                )
            except IntegrityError:
                # Another sign-up took the username between validation and saving.
                form.add_error("username", SignupForm.error_messages["username_taken"])
            else:
                login(request, user)
                messages.success(request, _("Welcome! Your account is ready."))
                return redirect(_next_url(request))
    else:
        form = SignupForm(initial={"language": request.LANGUAGE_CODE})
    return render(
        request,
        "registration/signup.html",
        {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")},
    )


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """Django's set_language, and for a signed-in user the profile remembers the choice."""
    language = request.POST.get(LANGUAGE_QUERY_PARAMETER)
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        services.profile_set_language(user=request.user, language=language)
    return set_language(request)
