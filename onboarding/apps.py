from django.apps import AppConfig
from django.conf import settings


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = "IGEL OS Onboarding"

    def ready(self) -> None:
        if settings.ONBOARDING_SIGNING_KEYS:
            from onboarding.assertion import parse_signing_keys

            # A bad key stops every process at start-up (gunicorn runs no system checks),
            # not the first device at the moment it should get its answer.
            parse_signing_keys(settings.ONBOARDING_SIGNING_KEYS)
