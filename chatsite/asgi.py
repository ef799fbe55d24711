"""ASGI entry point: HTTP goes to Django, WebSockets to the chat consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Django must be set up before anything imports models (the routing does).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from chat.logs import install_quiet_access_log  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from chat.shutdown import install_under_daphne  # noqa: E402
from security.origins import SiteOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The whole origin (scheme, host, port) must be the site's own or one of
        # WS_ALLOWED_ORIGINS; anything else is refused before the socket opens.
        "websocket": SiteOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# Under Daphne, SIGTERM lets running answers finish first (chat/shutdown.py).
install_under_daphne()
# Under Daphne, no access-log line per probe or scrape; JSON lines with LOG_FORMAT=json.
install_quiet_access_log(settings.LOG_FORMAT)
