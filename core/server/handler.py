"""Django's ASGI handler, with each request's sync work in one reused thread.

Django's stock `ASGIHandler` runs its middleware in async mode, one thread hop per
middleware method, and gives each request a new thread, so a persistent database
connection is never reused. `OneThreadASGIHandler` keeps Django's pieces (body reading,
request creation, the middleware, signals, streaming responses) and changes three things:

- the middleware chain and the view are loaded in sync mode (as under WSGI);
- one `sync_to_async` hop per request runs `request_started`, the chain, the view and,
  for a body already in memory, `close()`; a streaming response is closed after it was
  sent, in a second hop, as Django does;
- that hop runs on one of the server's request threads (`core.server.threads`), whose
  database connection survives between requests as `CONN_MAX_AGE` allows. The view's
  slot is given back once it has answered, and the thread too: a body in memory is
  sent without it, so a client slow to read (Pushpin taking a thousand holds at once)
  keeps no thread and no connection; a streaming response keeps its thread until it
  is closed.

When its last request in flight has been answered, it runs a due garbage collection
(`core.server.gc_tuning`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import django
from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

from core.server import gc_tuning
from core.server.threads import request_threads


class OneThreadASGIHandler(ASGIHandler):
    """`ASGIHandler` running middleware + view in one hop, on a reused thread."""

    def __init__(self) -> None:
        base.BaseHandler.__init__(self)  # not ASGIHandler's: it loads the async chain
        self.load_middleware(is_async=False)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        with gc_tuning.answering():
            await super().__call__(scope, receive, send)

    async def handle(self, scope: dict, receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            slots = await request_threads.take_slot()
            async with request_threads.thread():
                try:
                    response = await sync_to_async(self._respond, thread_sensitive=True)(
                        scope, body_file
                    )
                finally:
                    slots.release()
                if response.streaming:  # iterated and closed on this thread
                    try:
                        await self._send_until_disconnect(response, send, receive)
                    finally:
                        await sync_to_async(response.close, thread_sensitive=True)()
                    return
            # Sent without its thread: a client slow to read holds no thread or connection.
            await self.send_response(response, send)
        finally:
            body_file.close()

    async def _send_until_disconnect(
        self, response: HttpResponseBase, send: Any, receive: Any
    ) -> None:
        """Send a streaming response, and stop (closing its iterator) when the client leaves.

        An endless stream (the library's own event view, under GRIP or reached by a
        path the stream route does not take) would otherwise be written to a closed
        connection forever, keeping this request's thread and its database connection:
        Django's own handler watches for `http.disconnect` the same way.
        """
        sending = asyncio.ensure_future(self.send_response(response, send))
        watching = asyncio.ensure_future(_until_disconnect(receive))
        try:
            await asyncio.wait({sending, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sending, watching):
                task.cancel()
            await asyncio.gather(sending, watching, return_exceptions=True)
        if not sending.cancelled() and sending.exception() is not None:
            raise sending.exception()

    def _respond(self, scope: dict, body_file: Any) -> HttpResponseBase:
        """The request's thread: started signal, request, middleware + view, and close."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()
        return response

    async def aclose(self) -> None:
        """At server shutdown: close the database connections of the idle request threads."""
        await request_threads.aclose()


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def get_asgi_application() -> OneThreadASGIHandler:
    """`django.core.asgi.get_asgi_application`, with this module's handler."""
    django.setup(set_prefix=False)
    return OneThreadASGIHandler()
