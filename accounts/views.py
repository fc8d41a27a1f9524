"""Account pages: sign up and the link that confirms it, the profile and the link that moves
its address, the language switch. Django's auth views do the rest; the last step of a password
reset also proves the address the link went to."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import LANGUAGE_QUERY_PARAMETER, set_language

from accounts import services
from accounts.forms import PreferencesForm, ProfileForm, SignupForm
from accounts.roles import is_staff_role, user_role
from accounts.selectors import (
    ADDRESS_CHANGE,
    SIGNUP,
    address_key,
    language_of,
    link_read,
    owns_address,
)
from core.errors import Conflict, ServiceError


def _safe(request: HttpRequest, candidate: str) -> str:
    """`candidate` when it is a URL of this site, else ""."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing in: a safe `next`, else the customer's tickets."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    return _safe(request, candidate) or resolve_url(settings.LOGIN_REDIRECT_URL)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    if request.method == "POST":
        form = SignupForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            services.signup_request(
                username=data["username"],
                email=data["email"],
                password=data["password1"],
                language=data["language"],
                now=timezone.now(),
                next_url=_safe(request, request.POST.get("next", "")),
            )
            # The same page whether or not the address has an account.
            return redirect("signup_sent")
    else:
        form = SignupForm(initial={"language": request.LANGUAGE_CODE})
    return render(
        request,
        "registration/signup.html",
        {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")},
    )


def signup_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/signup_sent.html")


@require_http_methods(["GET", "POST"])
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows what the link confirms; only the button (POST) confirms, so that a mail
    program that opens links to scan them confirms nobody's sign-up."""
    template = "registration/signup_confirm.html"
    now = timezone.now()
    link = link_read(token, purpose=SIGNUP, now=now, hours=settings.SIGNUP_LINK_HOURS)
    if link is None:
        status = 400 if request.method == "POST" else 200
        return render(request, template, {"validlink": False}, status=status)
    if request.method == "POST":
        try:
            user = services.signup_confirm(user=link.user, username=link.data["n"], now=now)
        except Conflict as exc:
            return render(request, template, {"validlink": False, "problem": exc.code}, status=409)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Your address is confirmed. Welcome!"))
        return redirect(_safe(request, link.data["x"]) or resolve_url(settings.LOGIN_REDIRECT_URL))
    return render(
        request,
        template,
        {"validlink": True, "username": link.data["n"], "email": link.user.email},
    )


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's last step of a reset. The link went to the account's address, so setting the
    password proves it; a customer made from their first email gets a password this way."""

    def form_valid(self, form):
        response = super().form_valid(form)
        services.address_prove(user=form.user, now=timezone.now())
        return response


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """Customers: name, address, language, time zone, company. Staff: language and time zone
    (the rest of a staff account is the admin's)."""
    user = request.user
    staff = is_staff_role(user_role(user))
    profile = getattr(user, "customer_profile", None)
    current_zone = profile.timezone if profile is not None else settings.TIME_ZONE
    initial = {"language": language_of(user), "timezone": current_zone}
    form_class = PreferencesForm
    if not staff:
        form_class = ProfileForm
        initial |= {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "company": profile.company if profile is not None else "",
        }
    if request.method == "POST" and not staff and request.POST.get("action") == "prove":
        services.address_change_request(user=user, new_address=user.email, now=timezone.now())
        messages.info(
            request,
            _("We have sent a link to %(address)s. Follow it to confirm the address.")
            % {"address": user.email},
        )
        return redirect("profile")
    if request.method == "POST":
        form = form_class(request.POST, current_timezone=current_zone)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.profile_update(
                    user=user,
                    language=data["language"],
                    timezone=data["timezone"],
                    first_name=data.get("first_name"),
                    last_name=data.get("last_name"),
                    company=data.get("company"),
                )
            except ServiceError as exc:
                form.add_error(exc.field, exc.detail)
            else:
                if not staff and address_key(data["email"]) != address_key(user.email):
                    services.address_change_request(
                        user=user, new_address=data["email"], now=timezone.now()
                    )
                    messages.info(
                        request,
                        _(
                            "We have sent a link to %(address)s. Your address changes when "
                            "you follow it."
                        )
                        % {"address": data["email"]},
                    )
                messages.success(request, _("Your profile is saved."))
                return redirect("profile")
    else:
        form = form_class(initial=initial, current_timezone=current_zone)
    return render(
        request,
        "accounts/profile.html",
        {"form": form, "staff": staff, "owns_address": owns_address(user)},
    )


@require_http_methods(["GET", "POST"])
def address_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link sent to a new address: GET shows it, the button (POST) makes the change."""
    template = "accounts/address_confirm.html"
    now = timezone.now()
    link = link_read(
        token, purpose=ADDRESS_CHANGE, now=now, hours=settings.ADDRESS_CHANGE_LINK_HOURS
    )
    if link is None:
        status = 400 if request.method == "POST" else 200
        return render(request, template, {"validlink": False}, status=status)
    if request.method == "POST":
        try:
            services.address_change_confirm(user=link.user, new_address=link.data["e"], now=now)
        except Conflict as exc:
            return render(request, template, {"validlink": False, "problem": exc.code}, status=409)
        messages.success(
            request, _("Your address is now %(address)s.") % {"address": link.data["e"]}
        )
        return redirect("profile")
    return render(
        request,
        template,
        {"validlink": True, "username": link.user.get_username(), "address": link.data["e"]},
    )


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """Django's set_language, and for a signed-in user the profile remembers the choice."""
    language = request.POST.get(LANGUAGE_QUERY_PARAMETER)
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        services.profile_set_language(user=request.user, language=language)
    return set_language(request)
