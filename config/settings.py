"""Settings: the environment in, Django settings out (see API.md, "Operating").

Nothing else lives here; every knob is an environment variable, optionally read
from a `.env` file in the project folder.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import dj_database_url
import dj_email_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

_DEV_SECRET = "django-insecure-stayhub-development-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "") or _DEV_SECRET
if SECRET_KEY == _DEV_SECRET and not DEBUG and not env_bool("STAYHUB_ALLOW_DEV_SECRET"):
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set SECRET_KEY (or DEBUG=1 for development)."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
# Served over HTTPS only (API.md, Operating): redirect, HSTS, secure cookies. Behind a
# proxy, X-Forwarded-Proto counts only from TRUSTED_PROXIES (core.server.edge).
HTTPS_ONLY = env_bool("HTTPS_ONLY", False)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "csp",
    "ninja",
    "django_eventstream",
    "django_tasks",
    "django_tasks_db",
    "core",
    "listings",
    "messaging",
]

MIDDLEWARE = [
    # CORS first, so that every answer (errors included) carries its headers
    "corsheaders.middleware.CorsMiddleware",
    "core.server.middleware.TrailingSlashMiddleware",
    # /api/: 415 for bodies that are not JSON, bad query strings, JSON errors, 503s
    "core.server.api_guard.ApiGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # core.server.middleware's three serve the pages and the admin only: API requests pass by
    "core.server.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.server.middleware.AuthenticationMiddleware",
    # pages: the visitor the access cookie names (the admin keeps its session)
    "core.web.PageVisitorMiddleware",
    "core.server.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
# Where login_required sends a signed-out visitor of a page.
LOGIN_URL = "login"
ASGI_APPLICATION = "config.asgi.application"
# ASGI routes the server (core.server.app) mounts in front of Django: the SSE streams.
SERVER_ROUTES = ["messaging.realtime.route.stream_route"]
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# Connections are kept (per request thread, see core.server.threads) for DB_CONN_MAX_AGE
# seconds: a new SQLite connection re-reads the schema and runs the PRAGMAs below, which
# cost more than a message's whole write transaction. Health checks drop a broken one.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers go on while one writer commits; IMMEDIATE takes the write
    # lock at BEGIN so that concurrent writers queue instead of failing mid-way, and
    # core.server.db_backends.sqlite3 queues this process's writers in arrival order.
    DATABASES["default"]["ENGINE"] = "core.server.db_backends.sqlite3"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;"
            ),
        }
    )

if DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    # A server that does not answer fails the request (503) instead of hanging it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5)
    )

# Requests that run their view at once per worker process (core.server.threads), stream
# reads included (at most a quarter of them); each holds a thread and its database
# connection.
REQUEST_THREADS = env_int("REQUEST_THREADS", 16)

AUTH_USER_MODEL = "core.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Served by WhiteNoise from the app folders (no collectstatic needed to run).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
# Prefix for the URLs of uploaded files in API answers ("" gives root-relative URLs).
PUBLIC_URL = os.environ.get("PUBLIC_URL", "").rstrip("/")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", "") or BASE_DIR / "media")
# Message photos: only the two participants may load them, through the API
# (messaging.api). Kept in MEDIA_ROOT's `private/` folder, which the public media route
# refuses to serve (config.urls); a proxy serving MEDIA_ROOT itself must refuse it too.
PRIVATE_MEDIA_ROOT = Path(os.environ.get("PRIVATE_MEDIA_ROOT", "") or MEDIA_ROOT / "private")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Bodies: 1 MiB for everything, 5 MiB for image uploads (checked per endpoint).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
MAX_REQUEST_BODY = 1024 * 1024
MAX_IMAGE_UPLOAD = 5 * 1024 * 1024
# A message with photos (API.md, Limits): up to 4 images of 5 MiB and their envelope.
MAX_MESSAGE_UPLOAD = 21 * 1024 * 1024

# Tokens (API.md, Conventions).
JWT_SIGNING_KEY = os.environ.get("JWT_SIGNING_KEY", "") or SECRET_KEY
JWT_ALGORITHM = "HS256"
JWT_ACCESS_TTL = timedelta(seconds=env_int("JWT_ACCESS_TTL", 900))
JWT_REFRESH_TTL = timedelta(seconds=env_int("JWT_REFRESH_TTL", 1209600))
# The browser credential for EventSource and the pages' token refresh.
ACCESS_COOKIE_NAME = "stayhub_access"
REFRESH_COOKIE_NAME = "stayhub_refresh"
AUTH_COOKIE_SECURE = env_bool("AUTH_COOKIE_SECURE", HTTPS_ONLY)

# Rate limits (API.md, Limits).
MESSAGE_RATE = env_int("MESSAGE_RATE", 30)
AUTH_RATE = env_int("AUTH_RATE", 20)
# The client address is the socket's peer, unless that peer is one of these proxies
# (addresses or networks): then its X-Forwarded-For names the client (core.server.edge).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")
NINJA_NUM_PROXIES = 0  # ninja's throttles read REMOTE_ADDR, which the edge has settled

# Pagination (API.md, Conventions).
NINJA_PAGINATION_PER_PAGE = 20
NINJA_PAGINATION_MAX_LIMIT = 100

REDIS_URL = os.environ.get("REDIS_URL", "")
GRIP_URL = os.environ.get("GRIP_URL", "")
GRIP_KEY = os.environ.get("GRIP_KEY", "")
# Pushpin's ZeroMQ PULL socket (its `push_in_spec`, e.g. tcp://pushpin:5560): publishes
# go there instead of over HTTP to GRIP_URL (messaging.realtime.grip_publish).
GRIP_PUSH_SPEC = os.environ.get("GRIP_PUSH_SPEC", "")
# Seconds any Redis call may take (connecting, or waiting for an answer): a stalled
# Redis then costs a request this long and an answer 503, never a hung request.
REDIS_TIMEOUT = env_float("REDIS_TIMEOUT", 2.0)

if REDIS_URL:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retry inside a call either: redis-py's own client retries 10 times by default,
    # which turns one REDIS_TIMEOUT into half a minute.
    _redis_timeouts = {
        "socket_timeout": REDIS_TIMEOUT,
        "socket_connect_timeout": REDIS_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                **_redis_timeouts,
                # one pool per process, not one per request (core.server.redis_pool)
                "pool_class": "core.server.redis_pool.SharedConnectionPool",
            },
        }
    }
    _redis = urlsplit(REDIS_URL)
    # django-eventstream's publishing client (and the subscriber, messaging.realtime)
    EVENTSTREAM_REDIS = {
        "host": _redis.hostname or "localhost",
        "port": _redis.port or 6379,
        "db": int((_redis.path or "/0").lstrip("/") or 0),
        **_redis_timeouts,
    }
    if _redis.password:
        EVENTSTREAM_REDIS["password"] = _redis.password
else:
    # One process, nothing else installed: rate-limit counters live in memory.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Background work (API.md, "Background work"): django-tasks, the backport of Django 6's
# Tasks framework. Jobs live in the service's own database by default; TASKS_BACKEND=redis
# moves them to Redis (RQ, needs REDIS_URL). `python manage.py worker` runs either.
TASKS_BACKEND = os.environ.get("TASKS_BACKEND", "database").strip().lower()
if TASKS_BACKEND == "redis":
    if not REDIS_URL:
        raise ImproperlyConfigured("TASKS_BACKEND=redis needs REDIS_URL.")
    INSTALLED_APPS.append("django_rq")
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300}}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
elif TASKS_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
else:
    raise ImproperlyConfigured("TASKS_BACKEND is `database` (the default) or `redis`.")


# Email (API.md, "Notifications" and "Operating"). EMAIL_URL is parsed by dj-email-url;
# `smtp+tls://` (STARTTLS, port 587 unless given) and `smtp+ssl://` (TLS from the start,
# port 465 unless given) are spelled here as its `?tls=1` and `?ssl=1`.
def email_settings(url: str) -> dict[str, Any]:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ImproperlyConfigured("EMAIL_URL looks like smtp://user:pass@host:port or console://")
    extra = {"smtp+tls": ("tls", 587), "smtp+ssl": ("ssl", 465)}.get(scheme.lower())
    if extra is not None:
        query = f"{extra[0]}=1"
        url = f"smtp://{rest}{'&' if '?' in rest else '?'}{query}"
    conf = dj_email_url.parse(url)
    if "EMAIL_BACKEND" not in conf:
        raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme {scheme!r}.")
    if extra is not None and not urlsplit(url).port:
        conf["EMAIL_PORT"] = extra[1]
    # A mail server that hangs must not hold a worker forever (the job retries later).
    conf["EMAIL_TIMEOUT"] = conf.get("EMAIL_TIMEOUT") or 15
    return conf


_email = email_settings(os.environ.get("EMAIL_URL", "") or "console://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"]
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "") or "stayhub <no-reply@localhost>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Seconds a message stays unread before its email; the first retry of a failed send
# waits NOTIFY_RETRY_BASE seconds, each next one twice as long (messaging.notifications).
NOTIFY_DELAY = env_int("NOTIFY_DELAY", 600)
NOTIFY_RETRY_BASE = env_int("NOTIFY_RETRY_BASE", 30)

# Stays (API.md, Reservations): how long a booking request waits for its landlord, and
# how long before check-in the landlord's check-in details are posted into the thread.
RESERVATION_REQUEST_TTL = timedelta(seconds=env_int("RESERVATION_REQUEST_TTL", 86400))
CHECKIN_DETAILS_LEAD = timedelta(seconds=env_int("CHECKIN_DETAILS_LEAD", 172800))

# Events are stored so that streams can resume (Last-Event-ID) after a restart.
EVENTSTREAM_STORAGE_CLASS = "messaging.realtime.storage.EventStorage"
# Who may read which stream channel (participants only): see messaging.realtime.channels.
EVENTSTREAM_CHANNELMANAGER_CLASS = "messaging.realtime.channels.ChannelManager"
# Seconds of silence before a stream sends a keep-alive (API.md: at most 20).
STREAM_KEEPALIVE_SECONDS = min(env_int("STREAM_KEEPALIVE_SECONDS", 20), 20)
# Open streams per user and worker process (API.md, Limits); one more answers 429.
STREAM_LIMIT = env_int("STREAM_LIMIT", 20)
# How often a worker re-reads its open streams' users (one query for all of them), so
# that a stream ends soon after its user is deactivated or logs out on any worker.
STREAM_AUTH_CHECK_SECONDS = env_float("STREAM_AUTH_CHECK_SECONDS", 5.0)

if GRIP_URL:
    # Pushpin holds the streams. django-grip reads GRIP_URL itself; GRIP_PROXIES is
    # left unset on purpose (django-grip appends GRIP_URL to that very list on every
    # request). GRIP_KEY is Pushpin's sig_key: with it, a Grip-Sig header is verified,
    # without it anyone who reaches the app directly could pose as Pushpin.
    MIDDLEWARE.insert(0, "django_grip.GripMiddleware")
    _grip_key = GRIP_KEY
    if _grip_key:
        # in the URL, where django-grip's signature check looks for it (`key`)
        _sep = "&" if "?" in GRIP_URL else "?"
        GRIP_URL = f"{GRIP_URL}{_sep}{urlencode({'key': _grip_key})}"
    elif not DEBUG:
        raise ImproperlyConfigured("GRIP_URL is set: set GRIP_KEY to Pushpin's sig_key too.")
if GRIP_PUSH_SPEC and (not GRIP_URL or not GRIP_PUSH_SPEC.startswith(("tcp://", "ipc://"))):
    raise ImproperlyConfigured(
        "GRIP_PUSH_SPEC is Pushpin's push_in_spec (tcp://host:port or ipc://path), with GRIP_URL."
    )

SESSION_COOKIE_SECURE = AUTH_COOKIE_SECURE
CSRF_COOKIE_SECURE = AUTH_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS_ONLY:
    SECURE_SSL_REDIRECT = True
    # load balancers probe readiness over plain HTTP (/healthz never reaches Django)
    SECURE_REDIRECT_EXEMPT = [r"^readyz/?$"]
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", True)

# Content-Security-Policy (django-csp): the pages run only the site's own script files
# (no inline script; data reaches them in non-executable JSON blocks).
_PUBLIC_ORIGIN = (
    f"{urlsplit(PUBLIC_URL).scheme}://{urlsplit(PUBLIC_URL).netloc}" if PUBLIC_URL else ""
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:", *([_PUBLIC_ORIGIN] if _PUBLIC_ORIGIN else [])],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# CORS (django-cors-headers; core.server.edge applies it to the streams too).
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", "")
CORS_ALLOW_CREDENTIALS = True  # EventSource(..., {withCredentials: true}) sends the cookie
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["Retry-After", "X-Request-ID"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "last-event-id",
    "x-request-id",
]

# One JSON line per request from stayhub.access (core.server.edge), which replaces
# uvicorn's access log (that one prints query strings); nothing per stream opened.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "line": {"format": "%(message)s"},
    },
    # stderr, written by a thread of their own (never by the event loop)
    "handlers": {
        "console": {"()": "core.server.log_writer.queued_stderr", "formatter": "plain"},
        "access": {"()": "core.server.log_writer.queued_stderr", "formatter": "line"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "stayhub.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        # "Not Found: ..." lines would double the access line; errors still show
        "django.request": {"level": "ERROR"},
        "django_eventstream": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
    },
}
