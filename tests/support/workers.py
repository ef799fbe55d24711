"""The suite runs on several pytest-xdist workers (Makefile TEST_WORKERS): each keeps
what it creates on the shared PostgreSQL and Redis apart from the others'.

pytest-django gives each worker its own test database (`test_<name>_gw0`, ...); the
databases the tests create themselves (the e2e servers', the topology's) take
`suffix()`, and each worker's channel layer names start with a prefix of its own
(`CHANNEL_LAYER_PREFIX`), inherited by the servers it starts: Redis pub/sub ignores
the database number, so a user id that two workers' databases both hold would
otherwise name one group in both."""

from __future__ import annotations

import os


def worker() -> str:
    """This process's xdist worker id ("gw0", ...), or "" without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


def suffix() -> str:
    """A database name's ending for this worker: "_gw0", ... or ""."""
    return f"_{worker()}" if worker() else ""


def isolate_channel_layer() -> None:
    """Give this worker's channel layers, and the processes it starts, a prefix of
    their own (before any layer is made: channels makes them on first use)."""
    if not worker():
        return
    from django.conf import settings

    import chatsite.settings as site_settings

    prefix = f"{os.environ.get('CHANNEL_LAYER_PREFIX', 'asgi')}-{worker()}"
    os.environ["CHANNEL_LAYER_PREFIX"] = prefix
    site_settings.CHANNEL_LAYER_PREFIX = prefix  # redis_channel_layer() reads it per call
    config = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    if "prefix" in config:
        config["prefix"] = prefix
