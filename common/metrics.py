"""Prometheus metrics of this service, served at ``/metrics`` (see ``operations.views``).

One module holds every metric so their names and labels are in one place; the apps
only increment them. Labels are closed sets (endpoint names, reason codes, IdP
operations), never user input, so the number of series stays bounded.

Under gunicorn each worker is a process: with ``PROMETHEUS_MULTIPROC_DIR`` set (the
shipped ``gunicorn.conf.py`` sets it), prometheus-client writes the values to files in
that folder and ``/metrics`` adds up every worker's.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "obs_http_requests_total",
    "HTTP requests answered, by endpoint (URL name), method and status code.",
    ["endpoint", "method", "status"],
)
HTTP_DURATION = Histogram(
    "obs_http_request_duration_seconds",
    "Time to answer an HTTP request, by endpoint (URL name).",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ONBOARDING_OUTCOMES = Counter(
    "obs_onboarding_events_total",
    "Onboarding events recorded, by action, result and reason.",
    ["action", "result", "reason"],
)
EVENTS_DROPPED = Counter(
    "obs_onboarding_events_dropped_total",
    "Onboarding events that could not be written: refused (the database refused the "
    "row), buffer_full (the database was down longer than the batch writer's buffer "
    "lasts), stopped (it was down when the process stopped).",
    ["cause"],
)
DEVICE_OUTCOMES = Counter(
    "obs_device_api_outcomes_total",
    "Answers of the device API by endpoint and outcome (RFC 8628 error code or 'success').",
    ["endpoint", "outcome"],
)
IDP_REQUESTS = Counter(
    "obs_idp_requests_total",
    "Requests to identity providers, by operation and outcome ('ok' or the error code).",
    ["operation", "outcome"],
)
IDP_DURATION = Histogram(
    "obs_idp_request_duration_seconds",
    "Duration of requests to identity providers, by operation.",
    ["operation"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JWKS_REFRESHES = Counter(
    "obs_jwks_refreshes_total",
    "JWKS fetches from identity providers, by result ('ok' or 'failed') and cause.",
    ["result", "cause"],
)
RATE_LIMIT_DECISIONS = Counter(
    "obs_rate_limit_decisions_total",
    "Rate-limit decisions by limit: allowed, refused, or failed_open / failed_closed "
    "when the shared cache could not be asked.",
    ["limit", "decision"],
)
UNAVAILABLE = Counter(
    "obs_unavailable_total",
    "Requests answered 503 because a backing service (database, cache, IdP) failed.",
    ["dependency"],
)
