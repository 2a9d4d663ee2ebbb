"""Settings read from the environment.

With nothing set the site runs on the embedded default: SQLite, Channels' in-memory layer and
Celery tasks executed in-process. DATABASE_URL and REDIS_URL switch to the production shape.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

# Off unless asked for (`make run` asks): a forgotten setting must not expose debug pages.
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "Set SECRET_KEY: the development key must never run with DEBUG=False (or set DEBUG=true to develop)."
    )

# Old keys still verify sessions and decrypt credentials while they are re-encrypted under the new.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# Channel credentials are encrypted at rest with keys derived from SECRET_KEY(+fallbacks) and this salt.
SALT_KEY = env.list("FIELD_ENCRYPTION_SALT", default=["inbox-credentials-v1"])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The address customers' browsers and providers use to reach us; webhook URLs and the widget
# snippet are built from it (providers sign the URL they called, so it must be the public one).
# `make run` notes the address it serves in .site-url, so that commands run beside it (`manage.py
# inbox list`, `email ingest`) use the address the site really has, whatever PORT it was given.
SITE_URL_FILE = BASE_DIR / ".site-url"
PUBLIC_BASE_URL = env.str(
    "PUBLIC_BASE_URL",
    default=(SITE_URL_FILE.read_text().strip() if SITE_URL_FILE.is_file() else "") or "http://localhost:8000",
).rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "axes",
    "csp",
    "customers",
    "conversations",
    "inbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "inbox.accounts.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "inbox.accounts.middleware.SessionActivityMiddleware",
    # Last, as django-axes asks: it turns a login refused for too many failures into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "inbox.urls"
ASGI_APPLICATION = "inbox.asgi.application"
WSGI_APPLICATION = None

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
            # Template tags live in the feature they serve, not in an app's templatetags/ folder.
            "libraries": {"workspace": "inbox.workspace.templatetags"},
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the websocket threads and the request threads write side by side.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not memory, so that the server processes a test starts see the same database; one per
    # test run, so that two runs side by side do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"inbox-test-{os.getpid()}.sqlite3")}
else:
    # A pool (psycopg's, which Django 5.1+ drives) rather than persistent connections, which Django
    # advises against under ASGI; each process keeps at most DATABASE_POOL_MAX connections.
    from psycopg_pool import ConnectionPool

    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=20),
        "timeout": 10,
        # Each connection is checked before it is handed out: after a PostgreSQL restart, a dead one
        # is replaced instead of failing the request that got it.
        "check": ConnectionPool.check_connection,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub, not the core layer: the same unloaded latency in bench/, but the core layer
            # silently drops a lagging consumer's oldest events past its capacity (100); pub/sub
            # lost none. Pages still resync, because any pub/sub can drop during a Redis blip.
            "BACKEND": env.str("CHANNEL_LAYER_BACKEND", default="channels_redis.pubsub.RedisPubSubChannelLayer"),
            "CONFIG": {
                # redis-py 8 defaults to a 5 s socket timeout, which closes idle consumers (1011).
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="inbox"),
            },
        }
    }
    # Its own database if you like: clearing the cache (tests do) then spares queued tasks.
    REDIS_CACHE_URL = env.str("REDIS_CACHE_URL", default=REDIS_URL)
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE_URL}}
    CELERY_BROKER_URL = REDIS_URL
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://localhost/"

# Outgoing mail, e.g. EMAIL_URL=smtp+tls://user:password@smtp.example.com:587; printed to the
# console by default. (Tests swap in Django's locmem backend.)
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
# Or any provider through django-anymail: EMAIL_BACKEND=anymail.backends.mailgun.EmailBackend and
# ANYMAIL='{"MAILGUN_API_KEY": "..."}'.
if env.str("EMAIL_BACKEND", default=""):
    EMAIL_BACKEND = env.str("EMAIL_BACKEND")
ANYMAIL = env.json("ANYMAIL", default={})

# Without a broker, tasks run in-process right after the commit that queued them.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
# A task a killed worker held comes back after this long (Redis's default is an hour): the sweep and
# the claims make a second go harmless.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=300)}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Round-robin inboxes that ask for it hand an offline agent's open conversations on: how often that
# is checked, and how long an agent must have been offline first (a page reload is not leaving).
ROUTING_SWEEP_SECONDS = env.float("ROUTING_SWEEP_SECONDS", default=60.0)
ROUTING_OFFLINE_GRACE_SECONDS = env.float("ROUTING_OFFLINE_GRACE_SECONDS", default=120.0)
# How often lost work is looked for: replies still queued, events never processed (issue 19's faults).
STALE_SWEEP_SECONDS = env.float("STALE_SWEEP_SECONDS", default=15.0)
# How often running service-level clocks are checked for a passed deadline (each breach is told once),
# and how often satisfaction questions waiting for their delay are looked for.
SLA_SWEEP_SECONDS = env.float("SLA_SWEEP_SECONDS", default=15.0)
CSAT_SWEEP_SECONDS = env.float("CSAT_SWEEP_SECONDS", default=30.0)
# The reports' days and hours are the team's: one zone, in which the daily rollup is kept (changing it
# needs `manage.py reports_rebuild`); and how often the days that changed are worked out again.
REPORTS_TIME_ZONE = env.str("REPORTS_TIME_ZONE", default="UTC")
REPORTS_ROLLUP_SECONDS = env.float("REPORTS_ROLLUP_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-work": {"task": "conversations.tasks.sweep_stale_work", "schedule": STALE_SWEEP_SECONDS},
    "poll-imap-mailboxes": {
        "task": "inbox.tasks.imap_poll_all",
        "schedule": env.float("IMAP_POLL_SECONDS", 60.0),
    },
    "wake-snoozed": {"task": "conversations.tasks.wake_snoozed", "schedule": env.float("SNOOZE_WAKE_SECONDS", 30.0)},
    "reroute-offline": {"task": "conversations.tasks.reroute_offline", "schedule": ROUTING_SWEEP_SECONDS},
    "sla-breaches": {"task": "conversations.tasks.sla_breaches", "schedule": SLA_SWEEP_SECONDS},
    "csat-ask-due": {"task": "conversations.tasks.csat_ask_due", "schedule": CSAT_SWEEP_SECONDS},
    "report-days": {"task": "conversations.tasks.report_days", "schedule": REPORTS_ROLLUP_SECONDS},
}
# Without a broker (the embedded default) there is no beat process: the server runs the schedule
# above itself, in a background thread (`make run` turns this on).
EMBEDDED_BEAT = env.bool("EMBEDDED_BEAT", default=False)
# Sending a reply: how often a temporary failure (an SMTP outage, a provider's 5xx) is retried,
# and the first wait, doubled each time (capped at 10 minutes).
SEND_MAX_RETRIES = env.int("SEND_MAX_RETRIES", default=6)
SEND_RETRY_BACKOFF_SECONDS = env.float("SEND_RETRY_BACKOFF_SECONDS", default=5.0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "workspace:conversation_list"
LOGOUT_REDIRECT_URL = "login"

# Sign-in attempts are limited per username and IP address together (django-axes): after
# LOGIN_FAILURE_LIMIT failures that pair must wait LOGIN_LOCKOUT_MINUTES, and each attempt while it
# waits (the right password included) starts the wait again. Neither another IP address nor another
# username is held up, so one attacker cannot lock a colleague out from elsewhere. Attempts are
# kept in the database (an admin can clear them under Axes in /admin/); the client's address is
# REMOTE_ADDR, so behind a proxy run Daphne with --proxy-headers.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)  # off only in the in-process test suite
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a few typos before the right password count for nothing afterwards
AXES_LOCKOUT_CALLABLE = "inbox.accounts.views.login_locked_out"
# The sessions page lists who is signed in where; a row per successful login kept forever adds nothing.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False  # no "AXES: BEGIN" line at the start of every process and command

# Database sessions, which inbox.models.SignedInSession hangs on: each user's list of signed-in
# browsers, any of which they (or an admin) can sign out.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"

SESSION_COOKIE_HTTPONLY = True
# Lax, not Strict: an agent following a link to a conversation (from a mail, a chat) arrives signed in.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; kept default.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Our URLs (conversation ids, search terms) never leave the site in a Referer.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    # Production is HTTPS only. Behind a proxy that terminates TLS, set BEHIND_PROXY=true (and have it
    # send X-Forwarded-Proto), or every request would be redirected to itself.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Browsers' preload list takes whole registrable domains (example.com, not inbox.example.com), so
# asking for it is the domain owner's decision, made with SECURE_HSTS_PRELOAD=true; the deploy check
# that asks everyone for it is silenced.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# The Content-Security-Policy (django-csp), on in development too so that what breaks shows early.
# Pages take scripts, styles, images and fonts from this site only, none of them inline (no
# <script>, no on…= handlers, no style=""; htmx's own indicator styles and eval are turned off in
# base.html), and are framed by no one. The websocket of the page's own host is added per request
# by inbox.accounts.middleware (older browsers do not count ws:/wss: as 'self'); PUBLIC_BASE_URL, where the
# widget is served from, may differ from the host an agent typed. Violations can be reported to
# CSP_REPORT_URI.
_public = urlsplit(PUBLIC_BASE_URL)
_public_ws = f"{'wss' if _public.scheme == 'https' else 'ws'}://{_public.netloc}"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, f"{_public.scheme}://{_public.netloc}"],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF, _public_ws],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": env.list("CSP_REPORT_URI", default=[]) or None,
    },
}

# Providers post big payloads (mail with attachments). A refused body is lost (a 4xx is not retried),
# so the bound is generous, checked on Content-Length before anything is read.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=40 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES

# Twilio's REST API (tests point it at a local stand-in), and the largest MMS media taken.
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://api.twilio.com").rstrip("/")
# How long a send waits for Twilio's answer; past it, the text may or may not have gone out, and it is
# not sent again blindly.
TWILIO_SEND_TIMEOUT_SECONDS = env.float("TWILIO_SEND_TIMEOUT_SECONDS", default=30.0)
SMS_MEDIA_MAX_BYTES = env.int("SMS_MEDIA_MAX_BYTES", default=5 * 1024 * 1024)
# Meta's Graph API for Messenger (tests point it at a local stand-in), and the version we speak.
GRAPH_API_BASE_URL = env.str("GRAPH_API_BASE_URL", default="https://graph.facebook.com").rstrip("/")
GRAPH_API_VERSION = env.str("GRAPH_API_VERSION", default="v23.0")
# Where Messenger attachments may be fetched from (Meta's CDN), and the largest taken.
MESSENGER_MEDIA_HOSTS = env.list("MESSENGER_MEDIA_HOSTS", default=["fbcdn.net", "fbsbx.com"])
MESSENGER_MEDIA_MAX_BYTES = env.int("MESSENGER_MEDIA_MAX_BYTES", default=25 * 1024 * 1024)

# How long a signed link to a file stays valid (providers fetch media at once; visitors reopen chats).
PUBLIC_FILE_MAX_AGE_SECONDS = env.int("PUBLIC_FILE_MAX_AGE_SECONDS", default=7 * 24 * 3600)
# What a chat visitor may send: each file's size, checked on its content's own type.
WIDGET_UPLOAD_MAX_BYTES = env.int("WIDGET_UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
# What an agent may attach to one reply, in all.
REPLY_ATTACHMENTS_MAX_BYTES = env.int("REPLY_ATTACHMENTS_MAX_BYTES", default=20 * 1024 * 1024)
# An inbound mail's attachments larger than this are left out (and said so in the message).
EMAIL_ATTACHMENT_MAX_BYTES = env.int("EMAIL_ATTACHMENT_MAX_BYTES", default=25 * 1024 * 1024)

# How stale an agent socket's idea of its inboxes may get if a change notice was lost.
AGENT_ACCESS_RECHECK_SECONDS = env.int("AGENT_ACCESS_RECHECK_SECONDS", default=30)

# The chat widget's websocket: frame size cap and rate limits (messages per window).
WIDGET_MAX_FRAME_BYTES = env.int("WIDGET_MAX_FRAME_BYTES", default=64 * 1024)
WIDGET_RATE_LIMIT_WINDOW_SECONDS = env.int("WIDGET_RATE_LIMIT_WINDOW_SECONDS", default=10)
WIDGET_RATE_LIMIT_PER_VISITOR = env.int("WIDGET_RATE_LIMIT_PER_VISITOR", default=20)
WIDGET_RATE_LIMIT_PER_IP = env.int("WIDGET_RATE_LIMIT_PER_IP", default=120)
# Every frame (hello, receipt, ping, message) on one socket; past this the socket is closed (4429).
WIDGET_RATE_LIMIT_FRAMES_PER_SOCKET = env.int("WIDGET_RATE_LIMIT_FRAMES_PER_SOCKET", default=100)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},  # one line per task is noise, failures still show
        "axes": {"level": "WARNING"},  # each failed sign-in and lockout, without its routine INFO lines
        # Its DEBUG lines quote each request's URL, query string included, where Meta's page access
        # token travels: never logged, whatever LOG_LEVEL says.
        "urllib3.connectionpool": {"level": "INFO"},
    },
}
