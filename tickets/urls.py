from django.urls import path

from tickets import views_accounts

urlpatterns = [
    path("", views_accounts.home, name="home"),
]
