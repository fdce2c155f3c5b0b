"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py config.wsgi``.

Every value can be overridden from the environment (``GUNICORN_*`` below) or the
command line. See docs/deployment.md for the reverse proxy that belongs in front.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

# Loopback by default: the reverse proxy on the same machine is the only client. Set
# GUNICORN_BIND=0.0.0.0:8000 (or a unix socket) when the proxy runs elsewhere.
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]

# Threaded workers: a request waiting on the IdP, the database or a slow client holds
# one thread, not a whole process. Processes from the cores (at least 2, so one crash
# or restart never leaves nobody answering), threads for the waiting.
worker_class = "config.gunicorn_worker.HeaderBufferingWorker"
workers = int(os.environ.get("GUNICORN_WORKERS", max(2, os.cpu_count() or 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 32))
# Open connections per worker beyond the threads wait in its poller, costing no thread.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", 1000))

# A worker silent this long is killed and replaced (a request never takes this long:
# outbound HTTP, database statements and Redis calls all have shorter timeouts).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
# Request line and headers: the same limits as the proxy's; bodies are capped by the app.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# Recycle workers now and then (jittered so they do not restart together): a safety
# valve against a slow leak (the soak in docs/benchmarks.md shows none). Rarely: devices
# poll every few seconds, so 10,000 requests went by in seconds per worker, and each
# restart costs a boot and leaves its connections to the other workers.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 1_000_000))
max_requests_jitter = max_requests // 10

# Access log to stdout without query strings (%(U)s is the path only): a query may hold
# a user code or an OIDC code and state. The app's own JSON line per request
# (operations.middleware) carries the details; this one is for the proxy-side view.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(D)sus "%({x-request-id}o)s"'
errorlog = "-"
# X-Forwarded-* from the proxy are interpreted by Django (TRUSTED_PROXY_COUNT,
# TRUST_X_FORWARDED_PROTO), not by gunicorn.
forwarded_allow_ips = ""

# gunicorn's control socket ($HOME/.gunicorn/gunicorn.ctl by default) would be shared by
# every gunicorn of the user; systemd's signals manage this one (docs/deployment.md).
control_socket_disable = True

# Metrics of all workers in one /metrics answer (prometheus-client multiprocess mode).
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(
    tempfile.gettempdir(), f"obs-metrics-{os.getpid()}"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server: Any) -> None:
    # Values of a previous run would be added to this one's.
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server: Any, worker: Any) -> None:
    # Onboarding events still waiting for their batch (onboarding.events): written before
    # the worker goes, so a clean stop or restart loses none.
    try:
        from onboarding.events import flush_events
    except Exception:  # noqa: BLE001 - a worker that never loaded Django has none
        return
    flush_events(final=True)
