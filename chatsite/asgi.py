"""ASGI entry point: HTTP goes to Django, WebSockets to the chat consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Django must be set up before anything imports models (the routing does).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from chat.accounts.bearer import BearerOrSessionMiddleware  # noqa: E402
from chat.ops.shutdown import install_under_daphne  # noqa: E402
from chat.ops.sweeper import SweepingApp  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from chat.telemetry.logs import install_quiet_access_log  # noqa: E402
from chat.transports.webhooks.worker import DeliveringApp  # noqa: E402
from security.origins import SiteOriginValidator  # noqa: E402

sockets = URLRouter(websocket_urlpatterns)
protocols = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # A handshake with `Authorization: Bearer <API token>` is signed in by the token
        # (and with an Origin header, checked as below too: chat/accounts/bearer.py). Any other:
        # the whole origin (scheme, host, port) must be the site's own or one of
        # WS_ALLOWED_ORIGINS, else it is refused before the socket opens; then the session.
        "websocket": BearerOrSessionMiddleware(
            sockets, browser=SiteOriginValidator(AuthMiddlewareStack(sockets))
        ),
    }
)
# Every process sweeps stale answers from its first request of any kind (Daphne sends
# no lifespan events), or from its lifespan start-up (chat/ops/sweeper.py).
# It delivers webhooks from then on too (chat/transports/webhooks/worker.py).
application = DeliveringApp(SweepingApp(protocols))

# Under Daphne, SIGTERM lets running answers finish first (chat/ops/shutdown.py).
install_under_daphne()
# Under Daphne, no access-log line per probe or scrape; JSON lines with LOG_FORMAT=json.
install_quiet_access_log(settings.LOG_FORMAT)
