"""Settings, read from the environment (twelve-factor).

Unset `DATABASE_URL` / `REDIS_URL` select the embedded default: SQLite in `var/` and a Redis
server started from the Python environment on a socket in `var/` (see helpdesk.embedded).
"""

from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from helpdesk import embedded
from tickets.attachments import MAX_FILES_PER_MESSAGE

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("HELPDESK_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    # Only the embedded first run may go without one; the key then lives in var/.
    SECRET_KEY = embedded.local_secret_key(VAR_DIR)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    # The rooms, lowest layer first (docs/architecture.md); the interfaces, then the project.
    "accounts",
    "teams",
    "tickets",
    "sla",
    "chat",
    "escalation",
    "incidents",
    "portal",
    "desk",
    "live",
    "mailin",
    "jobs",
    "helpdesk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.ProfileLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
WSGI_APPLICATION = "helpdesk.wsgi.application"
ASGI_APPLICATION = "helpdesk.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "helpdesk.context_processors.promises",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    # Kept by the threads that live on (the worker, the chat's database threads); an HTTP
    # request under ASGI runs on a thread of its own and closes its connection (helpdesk.asgi).
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # JIT compiles a plan whose estimated cost passes jit_above_cost: on a list at 100k
        # tickets it added 0.5-1.5 s to queries that run in milliseconds (bench/lists.py).
        # Short OLTP statements never gain from it. `?options=` of DATABASE_URL comes after,
        # so a deployment can still turn it back on.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = " ".join(filter(None, ["-c jit=off", options.get("options", "")]))
        # A database host that accepts the connection but never answers (failing over, a
        # network partition) would hold a request, and its worker thread, for minutes: the
        # request answers 503 instead (api.errors). `?connect_timeout=` of DATABASE_URL wins.
        options.setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                # WAL lets the web, worker and beat processes read while one writes;
                # IMMEDIATE takes the write lock up front so busy_timeout applies instead of
                # failing mid-transaction with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # A file, not memory: a real Celery worker in the tests must see the test data.
            "TEST": {"NAME": VAR_DIR / "test-db.sqlite3"},
        }
    }
DATABASE_IS_EMBEDDED = not DATABASE_URL
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, Channels layer, cache ---------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="") or embedded.redis_url(
    VAR_DIR, env.str("HELPDESK_EMBEDDED_REDIS", default="redis")
)
REDIS_IS_EMBEDDED = not env.str("REDIS_URL", default="")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="helpdesk"),
    }
}

CHANNEL_LAYERS = {
    "default": {
        # Measured on this kind of machine: with 1,000 sockets the PubSub layer kept p99 at
        # ~71 ms where the core layer passed 1 s. Both deliver at most once; the database
        # replay (`after=`) is the guarantee.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        # Redis Pub/Sub ignores the database number: without a prefix of their own, two
        # deployments (or test runs) on one Redis server hear each other's conversations.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL}],
            "prefix": env.str("CHANNEL_LAYER_PREFIX", default=embedded.pubsub_prefix(REDIS_URL)),
        },
    }
}

CELERY_BROKER_URL = embedded.kombu_url(REDIS_URL)
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport, which a worker survives losing (helpdesk.broker). The embedded
    # socket's URL names its transport itself, and the embedded run stops with its Redis.
    CELERY_BROKER_TRANSPORT = "helpdesk.broker:Transport"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
# Redis redelivers an unacknowledged task after the visibility timeout; every time limit
# stays well under it so that a task is never run twice because it was merely slow.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    # Fail fast when Redis is down: the request goes on and the sweep resends what was lost
    # (kombu's default retries made each enqueue wait ~6 s).
    "max_retries": 0,
    "socket_connect_timeout": 2,
}
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
# Acknowledge on receipt unless a task opts in: only idempotent tasks (a conditional claim in
# the service) set acks_late, since a redelivered message runs the task again.
CELERY_TASK_ACKS_LATE = False
# A late-acked task still running when the broker connection drops is redelivered anyway:
# stop it rather than let two copies run at once.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="helpdesk")
# Sweeps have a queue of their own, which a worker reads in turn with the default one: a burst
# of emails (1,500 at-risk warnings) must not hold the next sweep until it expires.
CELERY_SWEEP_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}.sweeps"
CELERY_TASK_QUEUES = [Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(CELERY_SWEEP_QUEUE)]
CELERY_TASK_ROUTES = {
    "sla.sweep": {"queue": CELERY_SWEEP_QUEUE},
    "chat.fallback_sweep": {"queue": CELERY_SWEEP_QUEUE},
    "escalation.overflow_measure": {"queue": CELERY_SWEEP_QUEUE},
    "incidents.watch": {"queue": CELERY_SWEEP_QUEUE},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The SLA sweep: breaches known within seconds (peers sweep every 5 minutes or every hour).
SLA_SWEEP_SECONDS = env.int("SLA_SWEEP_SECONDS", default=10)
SLA_WARNING_MARGIN_SECONDS = env.int("SLA_WARNING_MARGIN_SECONDS", default=300)
# /metrics: with a token, scrapes send `Authorization: Bearer <token>`; without, loopback only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Live chat: a chat no agent takes within CHAT_WAIT_SECONDS continues as a ticket by email.
CHAT_WAIT_SECONDS = env.int("CHAT_WAIT_SECONDS", default=300)
CHAT_SWEEP_SECONDS = env.int("CHAT_SWEEP_SECONDS", default=15)
# Agents' chat replies are not emailed one by one: those left unread this long are, together.
CHAT_UNREAD_EMAIL_SECONDS = env.int("CHAT_UNREAD_EMAIL_SECONDS", default=120)
CELERY_BEAT_SCHEDULE = {
    "sla-sweep": {
        "task": "sla.sweep",
        "schedule": float(SLA_SWEEP_SECONDS),
        # A sweep that waited longer than one interval is superseded by the next one.
        "options": {"expires": float(SLA_SWEEP_SECONDS)},
    },
    "chat-fallback": {
        "task": "chat.fallback_sweep",
        "schedule": float(CHAT_SWEEP_SECONDS),
        "options": {"expires": float(CHAT_SWEEP_SECONDS)},
    },
    "overflow-measure": {
        "task": "escalation.overflow_measure",
        "schedule": float(SLA_SWEEP_SECONDS),
        "options": {"expires": float(SLA_SWEEP_SECONDS)},
    },
    "incidents-watch": {
        "task": "incidents.watch",
        "schedule": float(SLA_SWEEP_SECONDS),
        "options": {"expires": float(SLA_SWEEP_SECONDS)},
    },
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tickets:list"
LOGOUT_REDIRECT_URL = "home"
# An address is proven by a signed link sent to it (accounts): a sign-up's account stays
# inactive, and a new address unused, until the link is followed within these hours.
SIGNUP_LINK_HOURS = env.int("SIGNUP_LINK_HOURS", default=48)
ADDRESS_CHANGE_LINK_HOURS = env.int("ADDRESS_CHANGE_LINK_HOURS", default=48)
# An API token counts this many days from its creation (then 401 "token_expired"; the token
# endpoint gives a fresh one); any change of the password revokes it at once.
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=30)

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("it", _("Italian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and uploads ---------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    # Attachments live outside the web root and are served only through a permission check.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(env.path("ATTACHMENTS_DIR", default=VAR_DIR / "attachments"))},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Email ----------------------------------------------------------------------------------
# EMAIL_URL e.g. smtp://user:pass@mail.example.com:587/?tls=True ; consolemail:// ; filemail://
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="INTROSERV Support <support@introserv.com>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SUPPORT_EMAIL = env.str("SUPPORT_EMAIL", default="support@introserv.com")
# Inbound mail (mailin.filing): an unknown sender gets an account ("create") or a refusal
# ("reject"); larger messages are refused before they are parsed.
EMAIL_UNKNOWN_SENDERS = env.str("EMAIL_UNKNOWN_SENDERS", default="create")
EMAIL_MAX_BYTES = env.int("EMAIL_MAX_BYTES", default=25 * 1024 * 1024)
# Who proved what (mailin, README "Mail in"): the authserv-id of the MTA in front, which
# checks SPF, DKIM and DMARC, adds its Authentication-Results and strips any that arrive under
# its id (RFC 8601). Only its verdicts count: DMARC fail holds the mail, pass authenticates the
# sender. Empty: no verdict is trusted, replies join a thread only by the signed reply address
# or by answering an email we sent.
EMAIL_AUTHSERV_ID = env.str("EMAIL_AUTHSERV_ID", default="")
# Rotating SECRET_KEY: the old key here (comma-separated) keeps the signed reply addresses of
# emails already sent (tickets.reply_address) valid, as it keeps Django's own signatures.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an unauthenticated call then answers 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.errors.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    # The API's limits are the doors' (DOOR_LIMITS, api.common.DoorThrottle). The client
    # address is REMOTE_ADDR, which uvicorn rewrites only for the proxies of
    # FORWARDED_ALLOW_IPS: X-Forwarded-For from anyone else would let a client pick a fresh
    # address per request.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Helpdesk API",
    "DESCRIPTION": "Tickets, messages, escalations and SLA clocks of the helpdesk.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.blank_filters_documented",
    ],
    # Teams, messages and approvals each have a `kind`: name the approvals' enum for clients;
    # tickets and incidents each have a `status`, and tickets and incidents name categories.
    "ENUM_NAME_OVERRIDES": {
        "ApprovalKindEnum": "escalation.models.ApprovalKind",
        "IncidentStatusEnum": "incidents.models.Status",
        "CategoryEnum": "tickets.models.Category",
    },
    # Swagger UI's JS/CSS come from drf-spectacular-sidecar through our static files, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# The currency of amounts asked of management (a credit) when the request names none.
APPROVAL_CURRENCY = env.str("APPROVAL_CURRENCY", default="EUR")
# Tasks that share one incident update's fan-out (each takes its own batches of threads): about
# as many as the worker processes that should work on it at once.
INCIDENT_FANOUT_TASKS = env.int("INCIDENT_FANOUT_TASKS", default=4)

# --- Doors: how often an address or an account may try (core.throttle) ----------------------
# "count/window" per kind of caller; "ip" is the client address, "account" the person (or the
# name or address they give). Counted in Redis, shared by every process, and by the pages, the
# API and the sockets: one count per door. Where each applies: README.md, "Doors".
DOOR_LIMITS = {
    # A person who mistypes tries a few times; a guesser needs thousands. An account's count
    # is per username given, from any address.
    "login": {
        "ip": env.str("RATE_LOGIN_IP", default="30/10m"),
        "account": env.str("RATE_LOGIN_ACCOUNT", default="10/10m"),
    },
    # The API's token is a login too, with its own count.
    "token": {
        "ip": env.str("RATE_TOKEN_IP", default="30/10m"),
        "account": env.str("RATE_TOKEN_ACCOUNT", default="10/10m"),
    },
    "password_reset": {
        "ip": env.str("RATE_RESET_IP", default="10/h"),
        "account": env.str("RATE_RESET_ACCOUNT", default="3/h"),
    },
    "signup": {"ip": env.str("RATE_SIGNUP_IP", default="10/h")},
    # A change of address on the profile page mails the address typed.
    "profile": {"account": env.str("RATE_PROFILE_ACCOUNT", default="10/h")},
    "ticket_open": {
        "ip": env.str("RATE_TICKET_OPEN_IP", default="60/h"),
        "account": env.str("RATE_TICKET_OPEN_ACCOUNT", default="30/h"),
    },
    "reply": {
        "ip": env.str("RATE_REPLY_IP", default="600/h"),
        "account": env.str("RATE_REPLY_ACCOUNT", default="300/h"),
    },
    "mail_in": {
        "ip": env.str("RATE_MAIL_IP", default="300/h"),
        "account": env.str("RATE_MAIL_SENDER", default="60/h"),
    },
    "chat_frame": {"account": env.str("RATE_CHAT_ACCOUNT", default="1200/10m")},
    # Escalation's actions, one budget each per person: generous for an agent's day, a stop
    # for a script gone wrong that would flood a team, the managers or a thread with notices.
    "escalate": {"account": env.str("RATE_ESCALATE_ACCOUNT", default="300/h")},
    "consult": {"account": env.str("RATE_CONSULT_ACCOUNT", default="300/h")},
    "estimate": {"account": env.str("RATE_ESTIMATE_ACCOUNT", default="300/h")},
    "approval_request": {"account": env.str("RATE_APPROVAL_REQUEST_ACCOUNT", default="300/h")},
    "approval_decide": {"account": env.str("RATE_APPROVAL_DECIDE_ACCOUNT", default="600/h")},
    "approval_withdraw": {"account": env.str("RATE_APPROVAL_WITHDRAW_ACCOUNT", default="300/h")},
    # Every write on an incident (open, edit, update, link, unlink, note, credit): one update
    # reaches every linked thread, so a script gone wrong floods hundreds of customers.
    "incident_write": {"account": env.str("RATE_INCIDENT_WRITE_ACCOUNT", default="600/h")},
}

# --- Security -------------------------------------------------------------------------------
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes and scrapers call these over plain HTTP from inside the host or the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# `make run` serves plain HTTP on 127.0.0.1 and turns SECURE_SSL_REDIRECT/SECURE_COOKIES off;
# production keeps the defaults, which pass `manage.py check --deploy`.

# --- Limits and service promises ------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
# The largest body a request may have, checked before routing (core.bodycap): a message with
# all its files and its fields.
REQUEST_MAX_BYTES = env.int(
    "REQUEST_MAX_BYTES",
    default=ATTACHMENT_MAX_BYTES * MAX_FILES_PER_MESSAGE + DATA_UPLOAD_MAX_MEMORY_SIZE,
)
HEALTHZ_TIMEOUT_SECONDS = 2
# Live chat sockets (live.consumers): per message, per connection, per user.
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=4000)
CHAT_RATE_PER_SECOND = env.float("CHAT_RATE_PER_SECOND", default=5.0)
CHAT_RATE_BURST = env.int("CHAT_RATE_BURST", default=10)
CHAT_MAX_CONNECTIONS_PER_USER = env.int("CHAT_MAX_CONNECTIONS_PER_USER", default=10)
CHAT_TYPING_INTERVAL_SECONDS = env.float("CHAT_TYPING_INTERVAL_SECONDS", default=2.0)
# A socket's presence and connection entries in Redis expire unless refreshed (a third of this),
# so a killed web process stops counting within this many seconds.
CHAT_PRESENCE_TTL_SECONDS = env.int("CHAT_PRESENCE_TTL_SECONDS", default=60)
CHAT_REDIS_PREFIX = env.str("CHAT_REDIS_PREFIX", default="chat")
# A socket checks its person's access again this often, besides on every frame it receives and
# whenever the person or their teams are saved (live.revocation): the safety net for a lost
# event, spread over the sockets.
CHAT_ACCESS_RECHECK_SECONDS = env.int("CHAT_ACCESS_RECHECK_SECONDS", default=30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
