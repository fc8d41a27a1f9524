"""Accounts: sign up and its link, log in and out, password reset by email, the profile and
its address-change link, language switch.

The names are Django's own (login, logout, password_reset_*), which its auth views reverse.
The doors that cost a password hash or send an email are limited (core.throttle): each POST is
counted before the view runs.
"""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views
from accounts.forms import LocalizedPasswordResetForm
from core.throttle import throttled


def username_given(request) -> dict[str, str]:
    """A login attempt also counts against the account it names, from whatever address: the
    admin's login page shares this door."""
    return {"account": request.POST.get("username", "").strip()}


def signed_in(request) -> dict[str, str]:
    return {"account": str(request.user.pk) if request.user.is_authenticated else ""}


def email_given(request) -> dict[str, str]:
    """A reset request counts against the mailbox it would write to."""
    return {"account": request.POST.get("email", "").strip()}


urlpatterns = [
    path("signup/", throttled("signup")(views.signup), name="signup"),
    path("signup/sent/", views.signup_sent, name="signup_sent"),
    path("signup/confirm/<str:token>/", views.signup_confirm, name="signup_confirm"),
    # A change of address mails the address typed: counted per person, like a reset.
    path("profile/", throttled("profile", signed_in)(views.profile), name="profile"),
    path("profile/address/<str:token>/", views.address_confirm, name="address_confirm"),
    path(
        "login/",
        throttled("login", username_given)(
            auth_views.LoginView.as_view(redirect_authenticated_user=True)
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", views.language_switch, name="language_switch"),
    path(
        "password_reset/",
        throttled("password_reset", email_given)(
            auth_views.PasswordResetView.as_view(
                form_class=LocalizedPasswordResetForm,
                email_template_name="registration/password_reset_email.txt",
                subject_template_name="registration/password_reset_subject.txt",
            )
        ),
        name="password_reset",
    ),
    path(
        "password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
