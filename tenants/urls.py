from __future__ import annotations

from django.urls import path

from tenants import views

app_name = "tenants"
urlpatterns = [
    path("invitation/<str:token>/", views.invitation, name="invitation"),
]
