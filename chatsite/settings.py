"""Settings for the chat server, all taken from the environment (12-factor).

Unset variables give the embedded local defaults: SQLite, the in-memory channel
layer and the offline demo model, so `make run` needs no keys and no services.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    return [item.strip() for item in value.split(",") if item.strip()] or default


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # The test suite and the type check (mypy's Django plugin reads these settings) run
    # without one; a server never does unless DEBUG is on.
    if not DEBUG and "pytest" not in sys.modules and "mypy" not in sys.modules:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for local development).")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "chat",
    "security",
]

# Django's own middleware as chat/edge/inline.py runs it (on the event loop where a step
# does no I/O, not a thread hop per step and request), except the three whose deploy
# checks (security.W001-W003, and with W001 every check of the security settings) look
# for Django's own dotted path.
MIDDLEWARE = [
    # First: /healthz, /readyz and /metrics are answered (after their own host check)
    # before the HTTPS redirect and sessions, which probes and scrapers do not pass.
    "chat.edge.middleware.OperationsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "chat.edge.staticfiles.StaticFilesMiddleware",
    "chat.edge.inline.SessionMiddleware",
    # The page's language: the language switch's cookie, else the browser's
    # Accept-Language (URLs carry no language prefix).
    "chat.edge.inline.LocaleMiddleware",
    "chat.edge.inline.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "chat.edge.inline.AuthenticationMiddleware",
    # `Authorization: Bearer <API token>` instead of the session (and so no CSRF).
    "chat.edge.middleware.BearerTokenMiddleware",
    "chat.edge.inline.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chat.edge.middleware.ContentSecurityPolicyMiddleware",
    "chat.edge.middleware.DatabaseUnavailableMiddleware",
    # Slows down log-in attempts from an address, or on a name, that keeps failing.
    "security.login_throttle.LoginSlowdownMiddleware",
    # Last, as django-axes asks: turns a locked-out log-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

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
                "security.context_processors.signup",
                "security.context_processors.password_reset",
            ],
        },
    },
]

# Database: PostgreSQL from DATABASE_URL in production and CI, SQLite otherwise.
# PostgreSQL connections come from psycopg's pool (Django's "pool" option): a call
# borrows one and gives it back when it ends, so no call pays for a new connection
# and no thread keeps one forever (CONN_MAX_AGE stays 0, as pooling requires).
# Async code runs its database calls on DATABASE_THREADS threads (chat/db.py); the
# pool holds those plus a few for Django's own thread-sensitive calls and views.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 10)
DATABASE_THREADS = env_int("DATABASE_THREADS", max(1, DATABASE_POOL_SIZE - 4))
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if env_bool("DATABASE_POOL", True) and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, DATABASE_POOL_SIZE),
            "max_size": DATABASE_POOL_SIZE,
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # WAL + a busy timeout + IMMEDIATE transactions: concurrent writers
            # wait instead of failing with "database is locked".
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer: Redis when REDIS_URL is set (required for more than one process),
# the in-memory layer for the single-process embedded default. The pub/sub layer is
# the default with Redis: measured in bench/ it streams 30 answers at once at the
# in-memory layer's pace, where the core (list-based) layer lags and, without
# coalescing, dropped events (see docs/DESIGN.md).
REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis Sentinel instead of REDIS_URL (no single Redis to lose): the sentinels
# ("host:port,...") name the primary of REDIS_SENTINEL_MASTER, and name the new one
# after a failover.
REDIS_SENTINELS = os.environ.get("REDIS_SENTINELS", "")
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "")
REDIS_PASSWORD = os.environ.get("REDIS_PASSWORD", "")  # the primaries', with Sentinel
REDIS_SENTINEL_PASSWORD = os.environ.get("REDIS_SENTINEL_PASSWORD", "")
CHANNEL_LAYER_BACKEND = os.environ.get("CHANNEL_LAYER_BACKEND", "pubsub")
CHANNEL_LAYER_CAPACITY = env_int("CHANNEL_LAYER_CAPACITY", 1000)
# The start of every channel and group name in Redis: two deployments (or test workers)
# sharing one Redis stay apart with different prefixes (pub/sub ignores the database
# number, so a separate database in REDIS_URL does not part them).
CHANNEL_LAYER_PREFIX = os.environ.get("CHANNEL_LAYER_PREFIX", "asgi")
# Every Redis call gives up instead of waiting forever: a stalled Redis (hung, swapped
# out, a network black hole) fails an answer's start with `unavailable` after the read
# timeout, where it used to hang it. The core layer's receive blocks in Redis for
# `brpop_timeout` (5 s) by design, so its read timeout must be longer than that.
REDIS_CONNECT_TIMEOUT_SECONDS = env_float("REDIS_CONNECT_TIMEOUT_SECONDS", 2.0)
REDIS_SOCKET_TIMEOUT_SECONDS = env_float("REDIS_SOCKET_TIMEOUT_SECONDS", 10.0)
CORE_LAYER_BLOCKING_SECONDS = 5  # channels_redis' RedisChannelLayer.brpop_timeout


def redis_host(url: str, connect_timeout: float, socket_timeout: float) -> dict:
    """A channels_redis host: its keys besides `address` go to redis-py's pool."""
    return {
        "address": url,
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": socket_timeout,
    }


def redis_sentinel_hosts(
    sentinels: str,
    masters: str,
    connect_timeout: float,
    socket_timeout: float,
    *,
    password: str = "",
    sentinel_password: str = "",
) -> list[dict]:
    """channels_redis hosts found through Redis Sentinel: one per name in `masters`
    (several shard the layer), each the primary the `sentinels` ("host:port,...") name
    now, found again after a failover. A sentinel answers at once or is skipped after
    the connect timeout, so a stalled one does not hold the search for the primary."""
    addresses = [sentinel_address(entry.strip()) for entry in sentinels.split(",")]
    names = [name.strip() for name in masters.split(",")]
    if not all(names):
        raise ImproperlyConfigured(
            "REDIS_SENTINEL_MASTER must name the primary the sentinels monitor "
            "(several names separated by commas shard the channel layer)."
        )
    sentinel_kwargs: dict = {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": connect_timeout,
    }
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    host: dict = {"socket_connect_timeout": connect_timeout, "socket_timeout": socket_timeout}
    if password:
        host["password"] = password
    return [
        {**host, "sentinels": addresses, "master_name": name, "sentinel_kwargs": sentinel_kwargs}
        for name in names
    ]


def sentinel_address(entry: str) -> tuple[str, int]:
    """("host", port) of one REDIS_SENTINELS entry, "host:port" (26379 by default)."""
    host, colon, port = entry.rpartition(":")
    if not colon or "]" in port:  # no port ("[::1]": an IPv6 address keeps its colons)
        host, port = entry, "26379"
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(
            f"REDIS_SENTINELS entries are host:port, separated by commas; got {entry!r}."
        )
    return host, int(port)


def redis_channel_layer(
    url: str,
    backend: str,
    *,
    connect_timeout: float | None = None,
    socket_timeout: float | None = None,
    sentinels: str = "",
    sentinel_master: str = "",
) -> dict:
    """The channel layer on the Redis servers of `url` (one URL, or several separated
    by commas: the layer shards its channels and groups over them), or on the
    primaries `sentinels` name for `sentinel_master` (`url` empty); the timeouts
    default to the settings."""
    connect_timeout = connect_timeout or REDIS_CONNECT_TIMEOUT_SECONDS
    socket_timeout = socket_timeout or REDIS_SOCKET_TIMEOUT_SECONDS
    if url and sentinels:
        raise ImproperlyConfigured(
            "Set REDIS_URL or REDIS_SENTINELS, not both: with Sentinel the sentinels "
            "name the Redis primary."
        )
    if sentinels:
        hosts = redis_sentinel_hosts(
            sentinels,
            sentinel_master,
            connect_timeout,
            socket_timeout,
            password=REDIS_PASSWORD,
            sentinel_password=REDIS_SENTINEL_PASSWORD,
        )
    else:
        hosts = [redis_host(u.strip(), connect_timeout, socket_timeout) for u in url.split(",")]
        if not all(host["address"] for host in hosts):
            raise ImproperlyConfigured("REDIS_URL has an empty entry between its commas.")
    if backend == "pubsub":
        return {
            # channels_redis' pub/sub layer, sending concurrent publishes in one pipeline
            # instead of one locked round trip each (chat/streaming/delivery/layers.py).
            "BACKEND": "chat.streaming.delivery.layers.PipelinedPubSubChannelLayer",
            "CONFIG": {"hosts": hosts, "prefix": CHANNEL_LAYER_PREFIX},
        }
    if backend == "core":
        if socket_timeout <= CORE_LAYER_BLOCKING_SECONDS:
            raise ImproperlyConfigured(
                "REDIS_SOCKET_TIMEOUT_SECONDS must be more than "
                f"{CORE_LAYER_BLOCKING_SECONDS} with the core channel layer (its receive "
                "waits that long in Redis)."
            )
        return {
            # channels_redis' core layer, its direct sends fixed for several hosts and
            # its receive retrying after a Redis failure
            # (chat/streaming/delivery/layers.py).
            "BACKEND": "chat.streaming.delivery.layers.ShardedRedisChannelLayer",
            # The default capacity (100) drops messages silently when a consumer falls
            # behind; deltas are coalesced (CHAT_STREAM_COALESCE_MS) and capacity raised.
            "CONFIG": {
                "hosts": hosts,
                "prefix": CHANNEL_LAYER_PREFIX,
                "capacity": CHANNEL_LAYER_CAPACITY,
                "expiry": 60,
            },
        }
    raise ImproperlyConfigured("CHANNEL_LAYER_BACKEND must be 'pubsub' or 'core'.")


if REDIS_URL or REDIS_SENTINELS:
    CHANNEL_LAYERS = {
        "default": redis_channel_layer(
            REDIS_URL,
            CHANNEL_LAYER_BACKEND,
            sentinels=REDIS_SENTINELS,
            sentinel_master=REDIS_SENTINEL_MASTER,
        )
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_LAYER_CAPACITY},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "login"

# English unless the browser or the language switch asks for one of LANGUAGES
# (locale/<code>/LC_MESSAGES: `manage.py makemessages` / `compilemessages`).
LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG

# --- Abuse protection and HTTPS (issue #10) ----------------------------------------
# Production sets these (README, "Production environment"); `manage.py check --deploy`
# is then silent (tests/integration/test_security.py runs it with that environment).


def env_positive(name: str, value: float) -> float:
    if value <= 0:
        raise ImproperlyConfigured(f"{name} must be greater than 0 (it is {value}).")
    return value


# Behind deploy/nginx.conf: it sets X-Forwarded-Proto and X-Real-IP itself (a client's
# own values never get through), so they are read only then (security/client.py).
BEHIND_PROXY = env_bool("BEHIND_PROXY")
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# JSON in the door's shape under /api/ and /v1/ (Django's HTML page elsewhere).
CSRF_FAILURE_VIEW = "chat.edge.door_pages.csrf_failure"

# Share links (/s/<token>/): off, only signed-in users open them; ALLOW_PUBLIC_SHARES=1
# lets anyone with the link read the shared snapshot without an account.
ALLOW_PUBLIC_SHARES = env_bool("ALLOW_PUBLIC_SHARES")
# Active share links one user may have at once (each holds a copy of a transcript).
SHARE_MAX_ACTIVE_PER_USER = env_int("SHARE_MAX_ACTIVE_PER_USER", 100)

# Sign-up: on by default (`make run`); ALLOW_SIGNUP=0 closes it (404 page, no link).
# At most SIGNUP_RATE_LIMIT sign-up submissions per client address (an IPv6 /64 counts
# as one address) and SIGNUP_GLOBAL_RATE_LIMIT from everyone per window, counted in
# the database (security/throttle.py).
ALLOW_SIGNUP = env_bool("ALLOW_SIGNUP", True)
SIGNUP_RATE_LIMIT = int(env_positive("SIGNUP_RATE_LIMIT", env_int("SIGNUP_RATE_LIMIT", 30)))
SIGNUP_GLOBAL_RATE_LIMIT = int(
    env_positive("SIGNUP_GLOBAL_RATE_LIMIT", env_int("SIGNUP_GLOBAL_RATE_LIMIT", 300))
)
SIGNUP_RATE_WINDOW_MINUTES = env_positive(
    "SIGNUP_RATE_WINDOW_MINUTES", env_float("SIGNUP_RATE_WINDOW_MINUTES", 60.0)
)

# Log-in throttle: django-axes counts failed log-ins (the chat's and the admin's) in
# the database per username *and* client address: LOGIN_FAILURE_LIMIT failures of one
# pair lock that pair out (even with the right password) for LOGIN_COOLOFF_MINUTES after
# the failure that reached the limit; attempts during the lockout do not extend it.
# The same name from another address, or another name from that address, still logs
# in. Beyond LOGIN_SLOWDOWN_AFTER recent failures of one address, or of one name (for
# the addresses that failed on it), attempts are slowed down (security/login_throttle.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out log-ins
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = int(env_positive("LOGIN_FAILURE_LIMIT", env_int("LOGIN_FAILURE_LIMIT", 5)))
AXES_COOLOFF_TIME = timedelta(
    minutes=env_positive("LOGIN_COOLOFF_MINUTES", env_float("LOGIN_COOLOFF_MINUTES", 15.0))
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
LOGIN_SLOWDOWN_AFTER = int(
    env_positive("LOGIN_SLOWDOWN_AFTER", env_int("LOGIN_SLOWDOWN_AFTER", 10))
)
LOGIN_SLOWDOWN_MAX_SECONDS = int(
    env_positive("LOGIN_SLOWDOWN_MAX_SECONDS", env_int("LOGIN_SLOWDOWN_MAX_SECONDS", 60))
)
AXES_CLIENT_IP_CALLABLE = "security.client.client_ip"
AXES_LOCKOUT_CALLABLE = "security.responses.locked_out"  # a page with a retry hint, 429

# Mail, for the password-reset pages only: they exist only when mail is configured
# (EMAIL_HOST set, or a non-local EMAIL_BACKEND; security/mail.py).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")

# WebSocket origins: the site's own origin (scheme, host, port; host in ALLOWED_HOSTS)
# and these (security/origins.py). Default: CSRF_TRUSTED_ORIGINS.
WS_ALLOWED_ORIGINS = env_list("WS_ALLOWED_ORIGINS", CSRF_TRUSTED_ORIGINS)

# --- The LLM -----------------------------------------------------------------
# A dotted path to a callable with no arguments that returns a LangChain chat model
# (e.g. "myproject.models.make_model"); it replaces the built-in choice below.
LLM_FACTORY = os.environ.get("LLM_FACTORY", "")
# ChatOpenAI is used when either of these is set; otherwise the offline demo model.
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
LLM_MODEL = os.environ.get("LLM_MODEL", "gpt-4o-mini")
# Several models users choose from, per conversation: a JSON list of {"name",
# "base_url", "api_key_env" (or "api_key"), optional "id", "label", "temperature",
# "max_tokens"}; the first is the default (chat/provider/llm.py parse_models). Replaces
# the three settings above when set.
LLM_MODELS = os.environ.get("LLM_MODELS", "")
# The offline demo model stays on offer beside configured models (off: only those).
LLM_OFFER_DEMO = env_bool("LLM_OFFER_DEMO", True)
LLM_TEMPERATURE = env_float("LLM_TEMPERATURE", 0.7)
# The most tokens an answer may have (sent as `max_tokens`; 0 leaves it to the provider).
LLM_MAX_TOKENS = env_int("LLM_MAX_TOKENS", 2048)
LLM_SYSTEM_PROMPT = os.environ.get("LLM_SYSTEM_PROMPT", "You are a helpful assistant.")
LLM_TIMEOUT_SECONDS = env_float("LLM_TIMEOUT_SECONDS", 60.0)  # connect/read timeout
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2)  # only before the stream starts
# The whole answer; kept below the proxies' read timeout (300 s in deploy/nginx.conf and
# the ingress): a /v1 answer that is not streamed must end before they give up.
LLM_MAX_ANSWER_SECONDS = env_float("LLM_MAX_ANSWER_SECONDS", 270.0)
LLM_MAX_CONNECTIONS = env_int("LLM_MAX_CONNECTIONS", 1000)  # to the model server, per process
DEMO_TOKEN_DELAY_MS = env_float("DEMO_TOKEN_DELAY_MS", 35.0)  # offline demo pace

# --- Limits --------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 8000)
CHAT_HISTORY_CHAR_BUDGET = env_int("CHAT_HISTORY_CHAR_BUDGET", 24000)
# Once a conversation's path passes the budget, its older part is summarised by a model
# after an answer ends and the summary is sent ahead of the recent turns (issue #25;
# chat/streaming/answer/summarising.py); off: the oldest turns are dropped.
CHAT_SUMMARIES = env_bool("CHAT_SUMMARIES", True)
# The model that writes summaries (a key of LLM_MODELS); blank: the conversation's own.
LLM_SUMMARY_MODEL = os.environ.get("LLM_SUMMARY_MODEL", "")
CHAT_RATE_LIMIT_PER_MINUTE = env_int("CHAT_RATE_LIMIT_PER_MINUTE", 20)
# Answers one user may have streaming at once (over all their conversations).
CHAT_MAX_ACTIVE_ANSWERS_PER_USER = env_int("CHAT_MAX_ACTIVE_ANSWERS_PER_USER", 2)
# Tokens one user may use per UTC day (as the provider reports them, else estimated
# from characters); 0 turns the budget off.
CHAT_DAILY_TOKEN_BUDGET = env_int("CHAT_DAILY_TOKEN_BUDGET", 0)
# An answer's length, continues included (a continue past it is refused).
CHAT_MAX_ANSWER_CHARS = env_int("CHAT_MAX_ANSWER_CHARS", 32000)
# What one user may store (0: no bound), and how many conversations, presets and
# searches they may make per minute, each; conversations older than
# CHAT_RETENTION_DAYS (since their last activity) are deleted by the sweep (0: never).
CHAT_MAX_CONVERSATIONS_PER_USER = env_int("CHAT_MAX_CONVERSATIONS_PER_USER", 2000)
CHAT_MAX_STORED_BYTES_PER_USER = env_int("CHAT_MAX_STORED_BYTES_PER_USER", 50_000_000)
CHAT_ACTIONS_PER_MINUTE = env_int("CHAT_ACTIONS_PER_MINUTE", 60)
CHAT_RETENTION_DAYS = env_int("CHAT_RETENTION_DAYS", 0)
# A temporary chat (not listed, not searched) is deleted this many hours after it starts.
CHAT_TEMPORARY_HOURS = max(env_int("CHAT_TEMPORARY_HOURS", 24), 1)
# The largest file /api/import/ reads (our export's JSON, ChatGPT's conversations.json):
# it is parsed in memory, so this bounds what one import may take.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 20_000_000)
# Files attached to messages (issue #25, chat/conversations/attachments.py): one file's
# largest size, what one user may keep in all, and how many characters of the text and
# PDF files of one message the model is sent (each file cut with a notice past it).
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10_000_000)
ATTACHMENT_MAX_BYTES_PER_USER = env_int("ATTACHMENT_MAX_BYTES_PER_USER", 200_000_000)
ATTACHMENT_TEXT_CHAR_BUDGET = env_int("ATTACHMENT_TEXT_CHAR_BUDGET", 20_000)
ATTACHMENT_MAX_PER_MESSAGE = env_int("ATTACHMENT_MAX_PER_MESSAGE", 5)
# A file uploaded and never sent with a message is deleted after this many hours by the
# periodic sweep (0: kept until its owner deletes it).
ATTACHMENT_UNSENT_HOURS = env_float("ATTACHMENT_UNSENT_HOURS", 24.0)
# Where stored files go: Django's default storage (the local file system under
# MEDIA_ROOT; an S3-compatible store through django-storages, docs/DESIGN.md).
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media"))
# One socket's frames: a burst, then this many per second (over it: closed with 1008).
CHAT_FRAMES_PER_SECOND = env_float("CHAT_FRAMES_PER_SECOND", 5.0)
CHAT_FRAME_BURST = env_int("CHAT_FRAME_BURST", 20)
# Open chat sockets per user and process.
CHAT_MAX_SOCKETS_PER_USER = env_int("CHAT_MAX_SOCKETS_PER_USER", 20)
# Personal API tokens (Authorization: Bearer) one user may have active at once.
API_MAX_TOKENS_PER_USER = env_int("API_MAX_TOKENS_PER_USER", 20)
# Minting a token asks for the password again unless it was confirmed this long ago
# ("sudo mode", chat/accounts/sudo.py); 0: every time.
SUDO_MODE_MINUTES = env_float("SUDO_MODE_MINUTES", 10.0)
# A /v1 answer asked for without `stream` that takes longer than this sends a space
# this often until its JSON (a proxy or client sees it alive; JSON allows the spaces).
CHAT_API_HEARTBEAT_SECONDS = env_float("CHAT_API_HEARTBEAT_SECONDS", 10.0)
# Messages per page of a socket's history (the newest at connect, older on request).
CHAT_HISTORY_PAGE = env_int("CHAT_HISTORY_PAGE", 50)
# After a conversation's first answer, ask its model for a short title
# (chat/streaming/answer/titles.py); off: the first line of the first message stays the
# title.
CHAT_MODEL_TITLES = env_bool("CHAT_MODEL_TITLES", False)
CHAT_STREAM_COALESCE_MS = env_float("CHAT_STREAM_COALESCE_MS", 20.0)
CHAT_PROGRESS_SAVE_SECONDS = env_float("CHAT_PROGRESS_SAVE_SECONDS", 1.0)
# A `streaming` answer not saved for this long (by the database's clock) belongs to a
# dead process; a live one is saved at least every fifth of it (liveness.py).
CHAT_STALE_STREAM_SECONDS = env_float("CHAT_STALE_STREAM_SECONDS", 10.0)
# How often each process sweeps answers left `streaming` by a dead process.
CHAT_SWEEP_SECONDS = env_float("CHAT_SWEEP_SECONDS", 15.0)
# How long an answer's final save is retried through a database outage before its
# tabs are told it failed (it is still saved, as that error, if the database returns).
CHAT_FINAL_SAVE_SECONDS = env_float("CHAT_FINAL_SAVE_SECONDS", 30.0)
# On SIGTERM: how long running answers may go on before they are saved as interrupted
# (keep it below the orchestrator's kill timeout: compose stop_grace_period, k8s
# terminationGracePeriodSeconds).
CHAT_SHUTDOWN_GRACE_SECONDS = env_float("CHAT_SHUTDOWN_GRACE_SECONDS", 20.0)
CHAT_CHUNK_MAX_CHARS = env_int("CHAT_CHUNK_MAX_CHARS", 400)

# --- Speech (issue #23, chat/speech/) ----------------------------------------------
# The server's engine: espeak (Debian's espeak-ng, offline), voicevox or openai (any
# OpenAI-compatible /v1/audio/speech). Read only by chat/speech/factory.py.
SPEECH_ENGINE = os.environ.get("SPEECH_ENGINE", "espeak").strip().lower()
if SPEECH_ENGINE not in ("espeak", "voicevox", "openai"):
    raise ImproperlyConfigured("SPEECH_ENGINE must be 'espeak', 'voicevox' or 'openai'.")
VOICEVOX_URL = os.environ.get("VOICEVOX_URL", "http://127.0.0.1:50021")
VOICEVOX_SPEAKER = env_int("VOICEVOX_SPEAKER", 1)
SPEECH_URL = os.environ.get("SPEECH_URL", "")  # the OpenAI-compatible server's /v1 URL
SPEECH_API_KEY = os.environ.get("SPEECH_API_KEY", "")
SPEECH_MODEL = os.environ.get("SPEECH_MODEL", "tts-1")
SPEECH_VOICE = os.environ.get("SPEECH_VOICE", "")  # "": by language (espeak), alloy (openai)
SPEECH_MAX_CHARS_PER_DAY = env_int("SPEECH_MAX_CHARS_PER_DAY", 20000)  # per user; 0: off
SPEECH_CACHE_DIR = os.environ.get(
    "SPEECH_CACHE_DIR", str(Path(tempfile.gettempdir()) / "chat-speech-cache")
)

# --- Operations (issue #11) -------------------------------------------------------
# /readyz: each check (database, channel layer, every Redis shard) gets this long.
READYZ_TIMEOUT_SECONDS = env_positive(
    "READYZ_TIMEOUT_SECONDS", env_float("READYZ_TIMEOUT_SECONDS", 2.0)
)
# /readyz: callers at once share one run of the checks, and its result answers this
# long (0: every probe runs them, still one run at a time).
READYZ_CACHE_SECONDS = env_float("READYZ_CACHE_SECONDS", 1.0)
# /metrics: with a token, `Authorization: Bearer <token>` is required; without one,
# only loopback requests that did not come through a proxy are answered.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# `plain` lines for `make run`; `json` (one object per line) in production.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'.")
# The chat.events line of a finished answer carries its text only when this is on.
LOG_MESSAGE_CONTENT = env_bool("LOG_MESSAGE_CONTENT")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "chat.telemetry.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "filters": {
        # Daphne's "HTTP/2 support not enabled (install the http2 and tls Twisted
        # extras)" reads like a missing install; HTTP/1.1 and WebSockets are all this
        # server speaks (a proxy in front may offer HTTP/2).
        "no_http2_notice": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: not str(record.msg).startswith("HTTP/2 support"),
        },
    },
    "loggers": {
        # httpx and httpx2 log every request to the model at INFO: one line per answer.
        **{name: {"level": "WARNING"} for name in ("httpx", "httpx2")},
        # django-axes' "AXES: BEGIN version ..." at every start of every process.
        "axes.apps": {"level": "WARNING"},
        "daphne.server": {"filters": ["no_http2_notice"]},
    },
}

# Webhooks (docs/DESIGN.md, "Webhooks"): deliveries to private, loopback or link-local
# addresses are refused unless this is on (tests, or an operator's own network).
# On in a development setup (DEBUG: `make run`), where the receiver is on this machine.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", DEBUG)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)  # one POST at most
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 5.0)  # doubles per try
WEBHOOK_PAUSE_AFTER_FAILURES = env_int("WEBHOOK_PAUSE_AFTER_FAILURES", 10)  # in a row
WEBHOOK_POLL_SECONDS = env_float("WEBHOOK_POLL_SECONDS", 2.0)  # other processes' rows
WEBHOOK_DELIVERY = env_bool("WEBHOOK_DELIVERY", True)  # 0: this process posts none

# The Slack bot (docs/DESIGN.md, "Slack bot"): off (POST /slack/events answers 404)
# unless both the bot token and the signing secret are set.
SLACK_BOT_TOKEN = os.environ.get("SLACK_BOT_TOKEN", "")
SLACK_SIGNING_SECRET = os.environ.get("SLACK_SIGNING_SECRET", "")
SLACK_API_URL = os.environ.get("SLACK_API_URL", "https://slack.com/api/")
# The local user that owns the answers to Slack users not mapped in the admin.
SLACK_SERVICE_USER = os.environ.get("SLACK_SERVICE_USER", "slack")
SLACK_CHUNK = os.environ.get("SLACK_CHUNK", "line")  # line | sentence: one post per chunk
SLACK_POSTS_PER_SECOND = env_float("SLACK_POSTS_PER_SECOND", 1.0)  # per channel; faster: merged
if SLACK_CHUNK not in {"line", "sentence"}:
    raise ImproperlyConfigured("SLACK_CHUNK must be line or sentence.")
