"""How many platform webhooks the gateway works on at once; the rest wait their turn outside the event loop.

An asyncio loop runs, in each turn, every task that became ready: once the webhooks come in faster than they
are answered, every request that arrived during a turn is worked on in the next one, so a turn lasts as long as
the backlog takes, and a backlog makes longer turns. Everything that needs several turns pays for each: at 500
pushes/s a level-3 alert was raised 0.6-0.9 s after its message was stored and reached the supervisor's socket
0.5-5 s after that (its writer had two to four events to send, a few turns each, and a turn took 120-170 ms).

Here a webhook past the first ``limit`` waits on a semaphore: a waiting task is parked, not in the loop's
turn, so a turn holds at most ``limit`` webhooks and the work between turns (the risk screen, urgent routing, an
alert on its way to a console) keeps its pace. The webhooks are still answered in the order they came, at the
same rate: only the turns get shorter. A webhook takes its place once its whole body is read (at most
``body_timeout`` for it, then 408; over ``max_body_bytes``, 413), so clients sending slowly cannot hold the
places; a path no route answers gets its 404 or 405 at once. Consoles, ``/healthz``, the widget's socket and
every other route are not limited. The wait for a place has no limit on purpose: a push answered late is still
stored once (a platform's retry of it is a duplicate, answered cheaply), where refusing it would leave the
message to the platform's retries. The limit is per process; with a networked store a webhook waits on I/O
while it holds its place, so the limit bounds that store's concurrent writes from this process too.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from channels.payloads import receive_body
from contract.channel import WebhookRejected, rejected_webhook

WEBHOOK_PATH_PREFIX = "/channels/"


def webhook_admission(limit: int, body_timeout: float, max_body_bytes: int) -> Middleware:
    """A middleware letting at most ``limit`` POSTs to ``/channels/…`` be worked on at once, first come first
    served, each once its body is read."""
    if limit < 1:
        raise ValueError("webhook admission needs a limit of at least 1")
    semaphore = asyncio.Semaphore(limit)

    @web.middleware
    async def admitted(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (request.method != "POST" or not request.path.startswith(WEBHOOK_PATH_PREFIX)
                or request.match_info.http_exception is not None):  # no such route: its 404/405 at once
            return await handler(request)
        try:
            await receive_body(request, max_body_bytes, body_timeout)  # the channel's own read gets these bytes
        except WebhookRejected as error:  # refused as the channel would, before it takes a place
            return rejected_webhook(request, request.path.split("/")[2], error)
        async with semaphore:
            return await handler(request)

    return admitted

