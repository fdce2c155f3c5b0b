from django.apps import AppConfig


class DomainsConfig(AppConfig):
    name = "domains"
    verbose_name = "Domain proof"

    def ready(self) -> None:
        from domains import checks  # noqa: F401  (registers the system checks)
