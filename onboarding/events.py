"""Recording onboarding events: every attempt and every failure with its reason.

Events are what a company's staff read to answer "why did this device not onboard?",
so each carries the tenant (None when nothing tied the request to one: those are seen
by platform operators only), route, e-mail, device-reported fields and client address.

An event recorded inside a transaction (a code consumed with its success, a device
authorization with its start) is written with it. Any other (a lookup, a refusal) is
handed to the process's :class:`EventBatcher` when ``ONBOARDING_EVENT_BATCH_SECONDS`` is
set (1 s by default): a thread writes what gathered in one statement (PostgreSQL's COPY,
a multi-row INSERT elsewhere) at most that long after, so the request itself writes
nothing. A clean stop (gunicorn's worker exit,
the interpreter's exit) writes what is left; a crash loses at most the last interval.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Model
from django.utils import timezone

from common import metrics, requestlog
from common.outages import outage_kind
from common.postgresql import prepared
from onboarding import conf
from onboarding.models import (
    DeviceAuthorization,
    EventAction,
    EventResult,
    OnboardingEvent,
    Route,
)
from onboarding.ratelimit import normalize_address
from tenants.models import Tenant

# Reasons (short codes) beyond the routing ones in ``onboarding.selectors``.
REASON_INVALID_REQUEST = "invalid_request"
REASON_RATE_LIMITED = "rate_limited"
REASON_UNKNOWN_DEVICE_CODE = "unknown_device_code"
REASON_EXPIRED = "expired"
REASON_ALREADY_USED = "already_used"
REASON_DENIED = "denied"
REASON_DEVICE_REJECTED = "device_rejected_by_user"
REASON_SIGN_IN_CANCELLED = "sign_in_cancelled"
REASON_IDP_ERROR = "idp_error"
REASON_IDP_UNAVAILABLE = "idp_unavailable"
REASON_INVALID_ID_TOKEN = "invalid_id_token"  # noqa: S105 (a reason code)
REASON_NO_EMAIL = "no_email"
REASON_NOT_REGISTERED = "not_registered"
REASON_OTHER_TENANT = "other_tenant"
REASON_OTHER_IDP = "other_identity_provider"
REASON_STATE_UNKNOWN = "state_unknown_or_used"
REASON_ROUTE_UNAVAILABLE = "route_unavailable"
REASON_NO_IDP = "no_identity_provider"


@dataclass(frozen=True)
class DeviceInfo:
    """What the device reported about itself (strings of at most 128 characters)."""

    hostname: str = ""
    serial: str = ""
    model: str = ""
    os_version: str = ""

    @classmethod
    def of(cls, authorization: DeviceAuthorization) -> DeviceInfo:
        return cls(
            hostname=authorization.device_hostname,
            serial=authorization.device_serial,
            model=authorization.device_model,
            os_version=authorization.device_os_version,
        )


def _clip(value: object, length: int) -> str:
    # Events also record requests that failed validation: never let an oversized or
    # non-string value turn the record itself into an error.
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text[:length]


#: One event as its model's field values (``attname`` → value): what a request hands the
#: batcher, so that building it costs no model instance.
EventValues = dict[str, Any]


def _pk(obj: Model | int | None) -> int | None:
    """The primary key of a model instance, or the key itself (None stays None)."""
    return obj if obj is None or isinstance(obj, int) else obj.pk


class EventRecorder:
    """Records the events of one step of an onboarding: one action, one client address.

    Bound to a device authorization (``authorization=``), an event carries its tenant,
    route, e-mail, structure tag and device, unless the call names another route or
    e-mail. Unbound, it carries what the call names, with the structure tag and device
    the request reported. Tenant and route go in by key: loading them only to store
    their keys would cost the token endpoint a query each on every failed poll.
    """

    __slots__ = ("action", "authorization", "client_address", "device", "structure_tag")

    def __init__(
        self,
        action: EventAction | str,
        *,
        client_address: str | None,
        structure_tag: object = "",
        device: DeviceInfo | None = None,
        authorization: DeviceAuthorization | None = None,
    ) -> None:
        self.action = str(action)
        self.client_address = client_address
        self.structure_tag = structure_tag
        self.device = device
        self.authorization = authorization

    def success(
        self,
        *,
        email: object = None,
        route: Route | int | None = None,
        tenant: Tenant | int | None = None,
    ) -> None:
        self._save(EventResult.SUCCESS, "", "", email=email, route=route, tenant=tenant)

    def failure(
        self,
        reason: str,
        *,
        detail: str = "",
        email: object = None,
        route: Route | int | None = None,
        tenant: Tenant | int | None = None,
    ) -> None:
        """A failure with its reason code; ``tenant`` only when no authorization is bound."""
        self._save(EventResult.FAILURE, reason, detail, email=email, route=route, tenant=tenant)

    def _save(
        self,
        result: str,
        reason: str,
        detail: str,
        *,
        email: object,
        route: Route | int | None,
        tenant: Tenant | int | None,
    ) -> None:
        authorization = self.authorization
        if authorization is not None:
            tenant = authorization.tenant_id
            route = route if route is not None else authorization.route_id
            email = email if email is not None else authorization.email
            structure_tag: object = authorization.structure_tag
            device = DeviceInfo.of(authorization)
        else:
            structure_tag = self.structure_tag
            device = self.device or DeviceInfo()
        values: EventValues = {
            "tenant_id": _pk(tenant),
            "route_id": _pk(route),
            "action": self.action,
            "result": str(result),
            "reason": _clip(reason, 64),
            "detail": _clip(detail, 2000),
            "email": _clip(email, 254),
            "structure_tag": _clip(structure_tag, 128),
            "device_hostname": _clip(device.hostname, 128),
            "device_serial": _clip(device.serial, 128),
            "device_model": _clip(device.model, 128),
            "device_os_version": _clip(device.os_version, 128),
            "client_address": normalize_address(self.client_address),
            "created_at": timezone.now(),
        }
        if conf.event_batch_seconds() > 0 and not transaction.get_connection().in_atomic_block:
            BATCHER.add(values)
        else:
            OnboardingEvent(**values).save(force_insert=True)
        # For the request's log line and the metrics: ids and reason codes, never the e-mail.
        requestlog.annotate(tenant=values["tenant_id"], action=self.action, reason=values["reason"])
        metrics.ONBOARDING_OUTCOMES.labels(self.action, values["result"], values["reason"]).inc()


logger = logging.getLogger(__name__)


class EventBatcher:
    """Events of this process written in batches by a thread of its own (see the module).

    ``add`` only appends; the thread wakes every ``ONBOARDING_EVENT_BATCH_SECONDS`` (or
    when ``BATCH_SIZE`` are waiting) and writes them in one statement. While the database is
    down, events wait (at most ``MAX_WAITING``; beyond, the oldest are dropped, counted
    in ``obs_onboarding_events_dropped_total``); an event the database refuses (its route
    deleted meanwhile) is dropped alone, counted, not its batch.
    """

    BATCH_SIZE = 500
    MAX_WAITING = 50_000

    def __init__(self) -> None:
        self._waiting: list[EventValues] = []
        self._lock = threading.Lock()
        #: Held while a batch is out of the list and not yet written (see ``flush``).
        self._writing = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, event: EventValues) -> None:
        with self._lock:
            self._waiting.append(event)
            if len(self._waiting) > self.MAX_WAITING:
                del self._waiting[0]
                metrics.EVENTS_DROPPED.labels("buffer_full").inc()
            full = len(self._waiting) >= self.BATCH_SIZE
            self._start_once()
        if full:
            self._wake.set()

    def _start_once(self) -> None:
        # Per process: a gunicorn worker forked from a master that recorded events (never
        # in practice) would otherwise think the master's thread is its own.
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="event-batcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            # Ticks at least every second, so a changed interval is followed at once.
            woken = self._wake.wait(timeout=min(self._interval(), 1.0))
            # The interval as it is now, not as it was when the wait began.
            if not woken and time.monotonic() - last_flush < self._interval():
                continue
            self._wake.clear()
            last_flush = time.monotonic()
            try:
                self.flush()
            except Exception:  # the thread must outlive any one batch
                logger.exception("Writing a batch of onboarding events failed")
            finally:
                # This thread's connection is not kept between batches: an idle
                # process holds none open for it.
                with contextlib.suppress(Exception):
                    connections.close_all()

    @staticmethod
    def _interval() -> float:
        return max(conf.event_batch_seconds(), 0.05)

    def flush(self, *, final: bool = False) -> int:
        """Write every waiting event now; returns how many were written.

        One writer at a time, from taking a batch until it is committed: a final flush
        (the process is stopping) waits for a batch the thread is writing instead of
        finding nothing and letting the process end under it. ``final``: what cannot be
        written (the database is down) is counted as dropped and logged, not kept.
        """
        written = 0
        with self._writing:
            while True:
                with self._lock:
                    batch = self._waiting[: self.BATCH_SIZE]
                    del self._waiting[: self.BATCH_SIZE]
                if not batch:
                    return written
                try:
                    written += self._write(batch)
                except Exception as exc:
                    if not outage_kind(exc):
                        raise
                    self._keep(batch, exc, final=final)
                    return written

    def _keep(self, batch: list[EventValues], exc: Exception, *, final: bool) -> None:
        """The database is down: ``batch`` goes back in front for the next try, or, when
        the process is stopping, it and everything still waiting are counted as lost."""
        with self._lock:
            self._waiting[:0] = batch
            left = len(self._waiting)
            if final:
                self._waiting.clear()
        if final:
            metrics.EVENTS_DROPPED.labels("stopped").inc(left)
            logger.error(
                "%d onboarding events lost at exit: the database is unavailable: %r", left, exc
            )
        else:
            logger.warning("Onboarding events wait: the database is unavailable: %r", exc)

    def _write(self, batch: list[EventValues]) -> int:
        try:
            with transaction.atomic():
                _insert(batch)
            return len(batch)
        except IntegrityError:
            pass
        written = 0
        for event in batch:  # one refused row must not take its batch with it
            try:
                with transaction.atomic():
                    OnboardingEvent(**event).save(force_insert=True)
                written += 1
            except IntegrityError as exc:
                metrics.EVENTS_DROPPED.labels("refused").inc()
                logger.error("An onboarding event was refused by the database: %s", exc)
        return written


def _insert(batch: list[EventValues]) -> None:
    """Write ``batch`` in one statement: PostgreSQL's COPY (no SQL to build for a row),
    elsewhere Django's multi-row INSERT."""
    connection = connections[router.db_for_write(OnboardingEvent)]
    if connection.vendor != "postgresql":
        OnboardingEvent.objects.bulk_create([OnboardingEvent(**event) for event in batch])
        return
    fields = prepared.insert_fields(OnboardingEvent)
    target = prepared.insert_target(OnboardingEvent, connection.alias)
    # Django's cursor turns the errors of its execute() into Django's (an outage, an
    # integrity error), not those of copy(): this does.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.copy(f"COPY {target} FROM STDIN") as copy,
    ):
        for event in batch:
            copy.write_row(
                [
                    f.get_db_prep_save(
                        event[f.attname] if f.attname in event else f.get_default(), connection
                    )
                    for f in fields
                ]
            )


BATCHER = EventBatcher()


def flush_events(*, final: bool = False) -> int:
    """Write the events this process still holds; ``final`` when it is stopping
    (gunicorn's ``worker_exit``, the interpreter's exit): see ``EventBatcher.flush``."""
    return BATCHER.flush(final=final)


atexit.register(flush_events, final=True)


def events_prune(
    *,
    older_than_days: int,
    batch_size: int = 5000,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Delete events older than ``older_than_days``, in batches; returns how many.

    Batches keep each DELETE short on a large table (no long lock, bounded memory);
    ``progress(deleted_so_far)`` is called after each batch.
    """
    cutoff = timezone.now() - datetime.timedelta(days=older_than_days)
    deleted = 0
    while True:
        ids = list(
            OnboardingEvent.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return deleted
        count, _ = OnboardingEvent.objects.filter(pk__in=ids).delete()
        deleted += count
        if progress is not None:
            progress(deleted)
