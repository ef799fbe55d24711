"""Django's own middleware, run on the event loop where its step does no I/O.

In an async request Django's `MiddlewareMixin` runs every `process_request` and
`process_response` through `sync_to_async(thread_sensitive=True)`: a hop to the
request's own thread and back for each, fourteen per request with the middleware of
chatsite/settings.py. Under a burst that is thousands of hops fighting for the
interpreter (py-spy at 20 SSE users at once: a new thread per request, and the event
loop's busiest frames `SyncToAsync.__call__` and `run_in_executor`;
docs/performance.md, step 7).

Nine of the fourteen are in the five classes here. Their steps only read headers and
set attributes or lazy objects (the session and the user are read when first used,
as before, wherever that is), and now run inline; a step that may write goes to the
thread as before, decided per request: the session's save when it was modified, the
messages' when there are any to store. Security, CSRF and X-Frame-Options stay
Django's own: its deploy checks look for their dotted paths, and without
SecurityMiddleware's they skip every check of the security settings.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware import common, locale
from django.utils.deprecation import MiddlewareMixin


class Inline(MiddlewareMixin):
    """A `MiddlewareMixin` middleware whose steps run on the event loop, its response
    step on the thread when `response_in_thread` says it may do I/O."""

    def response_in_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> Any:
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            response = process_request(request)
        response = response or await self.get_response(request)
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self.response_in_thread(request, response):
                step = sync_to_async(process_response, thread_sensitive=True)
                response = await step(request, response)
            else:
                response = process_response(request, response)
        return response


class SessionMiddleware(Inline, sessions.SessionMiddleware):
    def response_in_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class LocaleMiddleware(Inline, locale.LocaleMiddleware):
    pass


class CommonMiddleware(Inline, common.CommonMiddleware):
    pass


class AuthenticationMiddleware(Inline, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(Inline, messages.MessageMiddleware):
    def response_in_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and bool(storage.used or storage.added_new)
