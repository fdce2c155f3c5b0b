from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DomainsConfig(AppConfig):
    name = "domains"
    verbose_name = _("Domain proof")

    def ready(self) -> None:
        from domains import checks  # noqa: F401  (registers the system checks)
