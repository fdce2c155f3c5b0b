"""``/metrics``: the Prometheus text exposition of ``common.metrics``.

Who may read it (operational detail: traffic, failure reasons, IdP health):

* a request carrying ``Authorization: Bearer <METRICS_TOKEN>`` (when that setting is
  set), from anywhere; or
* a request made directly from an address in ``METRICS_ALLOWED_NETWORKS`` (default:
  loopback only). A request that came through a proxy (it carries ``X-Forwarded-For``,
  ``Forwarded`` or ``X-Real-IP``) is never admitted by address, since behind a reverse
  proxy on the same machine every request comes from loopback.

Everyone else gets a 403. The default is therefore safe: only a scraper on the machine
itself, or one holding the token.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

import common.metrics  # noqa: F401 (registers the metrics)

FORBIDDEN = "Metrics are readable from the allowed networks or with the metrics token only."
_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_NETWORKS]


def may_read_metrics(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        sent = request.META.get("HTTP_AUTHORIZATION", "")
        if sent.startswith("Bearer ") and hmac.compare_digest(
            sent[len("Bearer ") :].strip().encode(), token.encode()
        ):
            return True
    if any(request.META.get(header) for header in _PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _networks())


class ImportJobCollector(Collector):
    """Import jobs by state and phase, read from the database at each scrape.

    The jobs run in ``run_jobs`` processes, not in the web workers, so a counter kept in
    a worker would miss them; the job table is the one place that knows. Jobs waiting in
    ``queued`` for long mean no ``run_jobs`` worker is running.
    """

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count

        from onboarding.models import ImportJob

        family = GaugeMetricFamily(
            "obs_import_jobs", "Import jobs by state and phase.", labels=["state", "phase"]
        )
        rows = ImportJob.objects.values_list("state", "phase").annotate(n=Count("pk"))
        for state, phase, count in rows.order_by("state", "phase"):
            family.add_metric([state, phase], count)
        yield family


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_read_metrics(request):
        return JsonResponse({"error": "access_denied", "error_description": FORBIDDEN}, status=403)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    from_database = CollectorRegistry()
    from_database.register(ImportJobCollector())
    body += generate_latest(from_database)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
