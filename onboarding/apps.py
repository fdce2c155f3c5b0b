from django.apps import AppConfig
from django.conf import settings


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = "IGEL OS Onboarding"

    def ready(self) -> None:
        from common.i18n import register_templates
        from onboarding import import_jobs, job_runner
        from onboarding.bulk.importer import TEMPLATES

        # An import job's message, report and stage are stored in English by the worker;
        # the job page and the audit log (tenants, which may not import onboarding) say
        # them in their reader's language.
        register_templates((*import_jobs.MESSAGES, *job_runner.MESSAGES, *TEMPLATES))
        if settings.ONBOARDING_SIGNING_KEYS:
            from onboarding.assertion import parse_signing_keys

            # A bad key stops every process at start-up (gunicorn runs no system checks),
            # not the first device at the moment it should get its answer.
            parse_signing_keys(settings.ONBOARDING_SIGNING_KEYS)
