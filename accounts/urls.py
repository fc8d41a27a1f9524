"""Accounts: sign up, log in and out, password reset by email, language switch.

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


def email_given(request) -> dict[str, str]:
    """A reset request counts against the mailbox it would write to."""
    return {"account": request.POST.get("email", "").strip()}


urlpatterns = [
    path("signup/", throttled("signup")(views.signup), name="signup"),
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
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
