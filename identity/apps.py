from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = _("Sign-in")

    def ready(self) -> None:
        from identity import checks  # noqa: F401  (registers the system checks)
        from identity.models import IdentityProvider
        from identity.selectors import providers_changed

        # Cache invalidation, not domain flow: every path that changes a provider (the
        # services, the admin, a company deleted with its providers) must reach it.
        post_save.connect(providers_changed, sender=IdentityProvider, dispatch_uid="idp-saved")
        post_delete.connect(providers_changed, sender=IdentityProvider, dispatch_uid="idp-deleted")
