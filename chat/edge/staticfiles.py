"""WhiteNoise's static files, served from Django's async middleware chain.

WhiteNoise's middleware is sync only, and one sync-only middleware makes Django run
it and everything below it on the process's single thread-sensitive thread, held
until an async view returns (see middleware.EitherMode). This subclass looks a
request's path up without a thread (production: a dict of the collected files) and
serves a file from a worker thread; every other request goes on asynchronously.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware

from chat.edge.middleware import EitherMode


class StaticFilesMiddleware(EitherMode, WhiteNoiseMiddleware):
    def __init__(self, get_response: Any = None, **kwargs: Any) -> None:
        WhiteNoiseMiddleware.__init__(self, get_response, **kwargs)
        EitherMode.__init__(self, get_response)

    def handle(self, request: HttpRequest) -> HttpResponse:
        return WhiteNoiseMiddleware.__call__(self, request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if self.autorefresh:  # development: finders and the disk, looked at each time
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(
                request.path_info
            )
        else:
            static_file = self.files.get(request.path_info)
        if static_file is None:
            return await self.get_response(request)
        return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
