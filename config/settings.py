"""Settings for the onboarding service: one file, read from the environment.

``DEBUG`` is off unless set: a deployment that forgets it must not serve a public host
with debug pages, the published development keys and the outbound-address guard off.
Development (``make run``, the test suite) sets ``DEBUG=True`` and then runs with
nothing else configured (SQLite file under the project, local media storage,
in-process cache). With ``DEBUG`` off every secret must come from the environment
(``NAME`` or ``NAME_FILE``); a missing one stops start-up.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy
from environ.fileaware_mapping import FileAwareMapping

BASE_DIR = Path(__file__).resolve().parent.parent


class _FileAwareMapping(FileAwareMapping):
    """``NAME_FILE`` that names no readable file is a clear start-up error, not a
    FileNotFoundError from deep inside django-environ."""

    def __getitem__(self, key: str) -> str:
        try:
            return str(super().__getitem__(key))
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{key}_FILE is {self.env.get(key + '_FILE')!r}, which cannot be read "
                f"({exc.strerror}). Point it at the file holding {key}, or unset it."
            ) from None


class _Env(environ.FileAwareEnv):
    ENVIRON = _FileAwareMapping()


env = _Env()
if (BASE_DIR / ".env").is_file():
    environ.FileAwareEnv.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

# Development-only fallbacks; never used when DEBUG is off.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"  # noqa: S105
_DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmchISE="  # noqa: S105


def _secret(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. In production it must be given as {name} or {name}_FILE;"
        " for development set DEBUG=True (make run does)."
    )


SECRET_KEY = _secret("SECRET_KEY", _DEV_SECRET_KEY)
# Fernet keys (urlsafe base64, 32 bytes) for secrets stored in the database, newest
# first, comma-separated: the first encrypts, all decrypt, so keys can be rotated.
FIELD_ENCRYPTION_KEYS = [
    k.strip() for k in _secret("FIELD_ENCRYPTION_KEY", _DEV_FIELD_KEY).split(",") if k.strip()
]
# Published with the source: `check --deploy` warns when it is in use (operations.W003).
DEVELOPMENT_FIELD_ENCRYPTION_KEY = _DEV_FIELD_KEY

BASE_URL = env.str("BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
_base_host = urlsplit(BASE_URL).hostname or "localhost"
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=["127.0.0.1", "localhost", "[::1]", _base_host] if DEBUG else [_base_host],
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[BASE_URL])

INSTALLED_APPS = [
    # The admin theme (docs/architecture.md); before django.contrib.admin, whose
    # templates it overrides and whose default site it replaces.
    "unfold",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # intcomma: counts grouped as the reader's language writes them (1,234 / 1.234).
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "mozilla_django_oidc",
    "axes",
    "tenants",
    "domains",
    "identity",
    "certificates",
    "onboarding",
    "operations",
]

# The browser-only ones (common.browser) are Django's, passed through by the device API.
MIDDLEWARE = [
    # First: times and logs every request; then the probes, answered before host checks.
    "operations.middleware.RequestLogMiddleware",
    "operations.middleware.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "common.browser.BrowserSessionMiddleware",
    # The page's language: the visitor's choice (cookie), else the browser's
    # Accept-Language (docs/i18n.md). After sessions, before CommonMiddleware, as Django
    # requires; the device API's error codes stay English whatever it picks.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "common.browser.BrowserAuthenticationMiddleware",
    # Dates in the viewer's time zone (a cookie the admin's script sets).
    "common.browser.BrowserTimeZoneMiddleware",
    "common.browser.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "operations.middleware.OutageMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into its page.
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:
    # Serves the admin's static files from STATIC_ROOT (filled by collectstatic) in
    # production; runserver serves them itself during development.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Admin theme (django-unfold) -------------------------------------------------
UNFOLD = {
    "SITE_TITLE": "IGEL OS Onboarding",
    "SITE_HEADER": "IGEL OS Onboarding",
    "SITE_SUBHEADER": gettext_lazy("Configure Services"),
    # "View site" opens the page the company's users see, not a 404 at the root.
    "SITE_URL": "/device",
    "SITE_SYMBOL": "devices",
    "SITE_FAVICONS": [
        {"rel": "icon", "type": "image/svg+xml", "href": "onboarding.dashboard.favicon_url"},
    ],
    "STYLES": ["onboarding.dashboard.stylesheet_url"],
    "SCRIPTS": ["onboarding.dashboard.script_url"],
    "SHOW_HISTORY": True,
    # The language switch in the user menu (docs/i18n.md); it posts to set_language.
    "SHOW_LANGUAGES": True,
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "onboarding.dashboard.dashboard_callback",
    "BORDER_RADIUS": "6px",
    # Blue (Tailwind's scale), shared with the device pages' stylesheet.
    "COLORS": {
        "primary": {
            "50": "oklch(97% .014 254.604)",
            "100": "oklch(93.2% .032 255.585)",
            "200": "oklch(88.2% .059 254.128)",
            "300": "oklch(80.9% .105 251.813)",
            "400": "oklch(70.7% .165 254.624)",
            "500": "oklch(62.3% .214 259.815)",
            "600": "oklch(54.6% .245 262.881)",
            "700": "oklch(48.8% .243 264.376)",
            "800": "oklch(42.4% .199 265.638)",
            "900": "oklch(37.9% .146 265.522)",
            "950": "oklch(28.2% .091 267.935)",
        },
    },
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "onboarding.dashboard.sidebar_navigation",
    },
}
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Database -------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default has two processes, the server and the import worker
    # (run_jobs): with a write-ahead log, a long import's reads never block the other's
    # writes (its heartbeat and progress, a staff member's save).
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The same backend, with a health check that asks the socket before the server.
        DATABASES["default"]["ENGINE"] = "common.postgresql"
    # A hung or unreachable PostgreSQL fails a request in seconds instead of holding a
    # worker until gunicorn kills it: connecting (seconds) and each statement
    # (milliseconds; 0 = no limit, e.g. for a long migration job) are bounded.
    _db_options = DATABASES["default"].setdefault("OPTIONS", {})
    _db_options.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
    _statement_timeout = env.int("DB_STATEMENT_TIMEOUT", default=15000)
    _db_options["options"] = (
        f"{_db_options.get('options', '')} -c statement_timeout={_statement_timeout}".strip()
    )
# The device path's hot statements prepared once per connection (common.postgresql.prepared);
# off behind a PgBouncer in transaction mode without prepared-statement support.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, JWKS, discovery and OIDC state are shared through it) ---
_cache_url = env.str("CACHE_URL", default="") or env.str("REDIS_URL", default="")
if _cache_url:
    CACHES = {"default": env.cache_url_config(_cache_url)}
    if urlsplit(_cache_url).scheme in ("redis", "rediss"):
        # Django's own Redis backend: no extra dependency beyond redis-py.
        CACHES["default"]["BACKEND"] = "django.core.cache.backends.redis.RedisCache"
        CACHES["default"]["LOCATION"] = _cache_url
        # Seconds; redis-py before 8 waits forever by default, so a hung Redis would
        # hold every worker. Rate limits fail open on these timeouts (onboarding.ratelimit).
        CACHES["default"]["OPTIONS"] = {
            "socket_connect_timeout": env.float("REDIS_CONNECT_TIMEOUT", default=1.0),
            "socket_timeout": env.float("REDIS_SOCKET_TIMEOUT", default=1.0),
        }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="obs")

# --- File storage (original certificate-chain uploads) ---------------------------
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "/media/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATIC_URL = "/static/"

STORAGE_BUCKET = env.str("STORAGE_BUCKET", default="")
if STORAGE_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": STORAGE_BUCKET,
            "endpoint_url": env.str("STORAGE_ENDPOINT_URL", default="") or None,
            "region_name": env.str("STORAGE_REGION", default="") or None,
            "access_key": env.str("STORAGE_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("STORAGE_SECRET_ACCESS_KEY", default="") or None,
            "location": env.str("STORAGE_LOCATION", default="chains"),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "allow_overwrite": False},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        # Not the manifest variant: a deployment that skipped collectstatic still serves
        # the admin (from the apps' folders, below) instead of failing with 500.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# --- Authentication -------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out sign-in before any backend checks a password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Password sign-in to the admin: after AXES_FAILURE_LIMIT wrong passwords for one
# username from one client address, that pair is locked out for AXES_COOLOFF_HOURS
# (other addresses can still sign in as that user, so an attacker cannot lock the real
# person out from elsewhere). The operator unlocks with `manage.py axes_reset_username
# NAME` or the admin's Axes › Access attempts › "Unlock".
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_ONLY_ADMIN_SITE = True
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "onboarding.ratelimit.client_address"
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_LOCKOUT_CALLABLE = "common.views.locked_out"  # the template with the admin's look
AXES_ENABLE_ADMIN = False  # our own, scoped to operators: tenants.admin.LockoutAdmin
AXES_VERBOSE = False  # no banner on every manage.py command (it would break one-line errors)
LOGIN_URL = "/admin/login/"
LOGIN_REDIRECT_URL = "/admin/"
LOGOUT_REDIRECT_URL = "/admin/login/"

# Staff sign-in to the admin through the platform's IdP (mozilla-django-oidc names).
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid profile email")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT", default=10)
STAFF_OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID and (OIDC_OP_ISSUER or OIDC_OP_AUTHORIZATION_ENDPOINT))
if STAFF_OIDC_ENABLED:
    # Local username/password login stays (ModelBackend first); see docs/identity.md.
    AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, "identity.staff.StaffOIDCBackend"]
# A refused staff sign-in lands on the login page, which says so without details.
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/?oidc=failed"

# --- Invitations (a one-time set-password link per invited member) -------------------
# E-mail through EMAIL_URL (smtp+tls://user:password@host:587, ...); in development the
# console shows the message. Without either, invitations are not e-mailed and the
# operator hands out the link (add_member --send-invite prints it).
_email_url = env.str("EMAIL_URL", default="")
if _email_url:
    vars().update(env.email_url_config(_email_url))
elif DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
INVITATION_EMAIL_ENABLED = bool(_email_url) or DEBUG
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"onboarding@{_base_host}")
INVITATION_EXPIRES_HOURS = env.int("INVITATION_EXPIRES_HOURS", default=72)

# --- Identity providers of tenants ------------------------------------------------
# Base URLs of the hosted IdP kinds; overridable so tests can point them at loopback.
ENTRA_AUTHORITY_URL = env.str("ENTRA_AUTHORITY_URL", default="https://login.microsoftonline.com")
OKTA_BASE_URL_TEMPLATE = env.str("OKTA_BASE_URL_TEMPLATE", default="https://{domain}")
PING_BASE_URL = env.str("PING_BASE_URL", default="https://auth.pingone.com")
OUTBOUND_HTTP_TIMEOUT = env.float("OUTBOUND_HTTP_TIMEOUT", default=5.0)
OUTBOUND_MAX_RESPONSE_BYTES = env.int("OUTBOUND_MAX_RESPONSE_BYTES", default=512 * 1024)
# Outbound requests to customer-supplied hosts (IdP endpoints, route probes) must not
# reach loopback/private/link-local addresses in production (SSRF); hosts or networks
# listed here are exempt (on-premise IdPs, tests).
OUTBOUND_BLOCK_PRIVATE_ADDRESSES = env.bool("OUTBOUND_BLOCK_PRIVATE_ADDRESSES", default=not DEBUG)
OUTBOUND_ALLOWED_HOSTS = env.list("OUTBOUND_ALLOWED_HOSTS", default=[])
OUTBOUND_REQUIRE_HTTPS = env.bool("OUTBOUND_REQUIRE_HTTPS", default=not DEBUG)

# --- Onboarding -------------------------------------------------------------------
CERTIFICATE_CHAIN_MAX_BYTES = env.int("CERTIFICATE_CHAIN_MAX_BYTES", default=1024 * 1024)
CERTIFICATE_EXPIRY_WARNING_DAYS = env.int("CERTIFICATE_EXPIRY_WARNING_DAYS", default=30)
# More certificates than this in one upload is refused as too_large (a real chain has a
# handful; judging which signed which is quadratic in the count).
CERTIFICATE_CHAIN_MAX_CERTIFICATES = env.int("CERTIFICATE_CHAIN_MAX_CERTIFICATES", default=50)
# Largest route file accepted by the admin's "Import routes" page (the command has no limit).
# Company domains (spec 2.1): "dns" proves each domain by a TXT record; "off" is for a
# single-company install, where every domain a tenant maps counts as its own.
DOMAIN_VERIFICATION = env.str("DOMAIN_VERIFICATION", default="dns")
if DOMAIN_VERIFICATION not in ("dns", "off"):
    raise ImproperlyConfigured(
        f"DOMAIN_VERIFICATION must be 'dns' or 'off', not {DOMAIN_VERIFICATION!r}."
    )
# Resolvers asked, "address[:port]" comma-separated (IPv6 as "[address]:port"); empty:
# the system's (/etc/resolv.conf).
DOMAIN_VERIFICATION_NAMESERVERS = env.list("DOMAIN_VERIFICATION_NAMESERVERS", default=[])
DOMAIN_VERIFICATION_GRACE_DAYS = env.int("DOMAIN_VERIFICATION_GRACE_DAYS", default=7)
DOMAIN_VERIFICATION_TIMEOUT = env.float("DOMAIN_VERIFICATION_TIMEOUT", default=5.0)

# `make bench` only: serves the trivial DRF view the device endpoints are compared with.
BENCH_BASELINE = env.bool("BENCH_BASELINE", default=False)

ROUTE_IMPORT_MAX_BYTES = env.int("ROUTE_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
# The admin's imports run as jobs of `manage.py run_jobs` (onboarding/job_runner.py): a
# worker writes a heartbeat this often (seconds); a running job whose heartbeat is older
# than the stale limit had a worker that died and is queued again; a checked import not
# applied within the pending hours is cancelled and its file deleted.
IMPORT_JOB_HEARTBEAT_SECONDS = env.float("IMPORT_JOB_HEARTBEAT_SECONDS", default=2.0)
IMPORT_JOB_STALE_SECONDS = env.int("IMPORT_JOB_STALE_SECONDS", default=60)
IMPORT_JOB_PENDING_HOURS = env.int("IMPORT_JOB_PENDING_HOURS", default=24)
ONBOARDING_EVENT_RETENTION_DAYS = env.int("ONBOARDING_EVENT_RETENTION_DAYS", default=90)
# Onboarding events recorded outside a transaction (lookups, refusals) are written by each
# process in batches at most this many seconds later (onboarding.events.EventBatcher):
# a crash loses at most that much, a clean stop nothing. 0 writes each in its request.
ONBOARDING_EVENT_BATCH_SECONDS = env.float("ONBOARDING_EVENT_BATCH_SECONDS", default=1.0)
# RFC 8628 device codes: lifetime and minimum polling interval (seconds).
DEVICE_CODE_EXPIRES_IN = env.int("DEVICE_CODE_EXPIRES_IN", default=600)
DEVICE_CODE_INTERVAL = env.int("DEVICE_CODE_INTERVAL", default=5)
# A new device code's row is committed without waiting for the disk (PostgreSQL's
# asynchronous commit, for that one transaction): a crash of the database server can lose
# the codes of its last 0.6 s, whose devices then start again. False: every code is on
# disk before it is answered (docs/deployment.md).
DEVICE_CODE_ASYNC_COMMIT = env.bool("DEVICE_CODE_ASYNC_COMMIT", default=True)
ONBOARDING_SIGN_IN_TIMEOUT = env.int("ONBOARDING_SIGN_IN_TIMEOUT", default=600)
# Oldest ``iat`` accepted by /api/v1/onboarding/lookup (seconds).
ONBOARDING_LOOKUP_MAX_TOKEN_AGE = env.int("ONBOARDING_LOOKUP_MAX_TOKEN_AGE", default=600)

# The onboarding assertion (the token endpoint's access_token, a JWT this service signs):
# PEM private keys, EC P-256 (ES256) or RSA >= 2048 bits (RS256), several concatenated for
# a rotation: the first signs, all are published at /.well-known/jwks.json. A "\n" in the
# variable stands for a line break (one-line environments). See onboarding/assertion.py.
ONBOARDING_SIGNING_KEYS = env.str("ONBOARDING_SIGNING_KEYS", default="", multiline=True)
if not ONBOARDING_SIGNING_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "ONBOARDING_SIGNING_KEYS is not set. With DEBUG=False it must be given as "
        "ONBOARDING_SIGNING_KEYS or ONBOARDING_SIGNING_KEYS_FILE (PEM private keys; "
        "e.g. openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)."
    )
# Development only (None in production, where no key is ever generated): the file holding
# the key generated on first use when no keys are configured, next to the SQLite database
# so every process of this checkout (runserver, its reloads, manage.py) signs alike.
ONBOARDING_DEVELOPMENT_KEY_FILE = (
    env.path("ONBOARDING_DEVELOPMENT_KEY_FILE", default=BASE_DIR / "dev-signing-key.pem")
    if DEBUG
    else None
)
# Lifetime of an assertion (seconds): long enough for the device to reach its UMS right
# after onboarding, short enough that a copied one is soon worthless.
ONBOARDING_ASSERTION_LIFETIME = env.int("ONBOARDING_ASSERTION_LIFETIME", default=600)
# How long clients may cache /.well-known/jwks.json and the metadata (seconds); a new key
# should be published (second in the list) at least this long before it signs.
ONBOARDING_JWKS_MAX_AGE = env.int("ONBOARDING_JWKS_MAX_AGE", default=3600)


def _rate_limits(raw: str) -> dict[str, tuple[int, int]]:
    """``name=COUNT/SECONDS,...`` → overrides of onboarding.conf.DEFAULT_RATE_LIMITS."""
    limits: dict[str, tuple[int, int]] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, value = item.partition("=")
        count, _, seconds = value.partition("/")
        if not (name and count.isdigit() and seconds.isdigit()):
            raise ImproperlyConfigured(
                f"ONBOARDING_RATE_LIMITS: {item!r} is not NAME=COUNT/SECONDS (e.g. authorize_address=120/60)."
            )
        limits[name.strip()] = (int(count), int(seconds))
    return limits


ONBOARDING_RATE_LIMITS = _rate_limits(env.str("ONBOARDING_RATE_LIMITS", default=""))
# IPv6 clients are counted per network of this prefix length: one subscriber usually
# gets a whole /64 and could otherwise take a fresh bucket per address.
RATE_LIMIT_IPV6_PREFIX = env.int("RATE_LIMIT_IPV6_PREFIX", default=64)

# --- API --------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
REST_FRAMEWORK: dict[str, object] = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IGEL OS 12 Onboarding Service — device API",
    "DESCRIPTION": "Routes a signed-in user's IGEL OS 12 device to its UMS / ICG.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Security (production) ----------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Production over https (the only way it should be deployed) gets secure cookies, the
# redirect and HSTS by default. A BASE_URL of plain http (a lab, a test rig) keeps
# cookies usable over http; `check --deploy` then says what is missing.
_HTTPS = BASE_URL.startswith("https://")
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_HTTPS)
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_HTTPS)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_HTTPS)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _HTTPS else 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is the domain owner's decision (hard to undo), not a default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Number of proxies in front of the app whose X-Forwarded-For entries are trusted when
# working out a device's client address (0: use REMOTE_ADDR only).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

TIME_ZONE = "UTC"
USE_TZ = True

# --- Languages (docs/i18n.md) -------------------------------------------------------
# English and German; a visitor's language comes from their own choice (the switch on
# every page, remembered in a cookie for a year) or else their browser's Accept-Language.
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
if not DEBUG:
    LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Operations -----------------------------------------------------------------
# /metrics: readable with "Authorization: Bearer <METRICS_TOKEN>" (when set) or directly
# (not through a proxy) from these networks; everyone else gets 403 (operations/metrics.py).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])

# One JSON object per line in production (LOG_FORMAT=json), readable text in development.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'text', not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "operations.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "operations.logs.JSONFormatter"},
        "text": {"()": "operations.logs.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
