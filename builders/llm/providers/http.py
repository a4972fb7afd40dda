"""The HTTP client both SDKs are given: it stops reading a reply once it passes a byte cap.

A misbehaving server (or proxy) can answer with megabytes; read whole, a few such replies in flight
took a build to 883 MB. The cap is per request (`REPLY_CAP`, set by the client around each call,
derived from the request's max_tokens): a reply announcing more is refused before its body is
read, and one that streams past the cap is cut off there. Replies are asked for uncompressed, so
the bytes counted are the bytes kept.
"""

from __future__ import annotations

import functools
import sys
from contextvars import ContextVar

# The largest reply body the current request may have, in bytes; None: no cap.
REPLY_CAP: ContextVar[int | None] = ContextVar("reply_cap", default=None)


class ReplyTooLarge(Exception):
    """A reply body over REPLY_CAP; its bytes were not kept."""


def capped_http_client(client_class: type):
    """The SDK's own default client class (its timeouts, limits, redirects), with the cap.

    Older SDKs stand on httpx and newer ones on httpx2: the capped stream is made from whichever
    the SDK's client class comes from."""
    stream_class = _capped_stream_class(_http_module(client_class))

    async def cap_reply(response) -> None:
        """Runs once the headers are in and before the body is read."""
        cap = REPLY_CAP.get()
        if cap is None:
            return
        announced = response.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > cap:
            await response.aclose()
            raise ReplyTooLarge(f"the server announced a reply of {int(announced)} bytes, over the cap of {cap} "
                                "bytes; it was not read")
        response.stream = stream_class(response.stream, cap)

    return client_class(event_hooks={"response": [cap_reply]}, headers={"Accept-Encoding": "identity"})


def too_large(error: BaseException | None) -> ReplyTooLarge | None:
    """The ReplyTooLarge behind `error`, which an SDK may have wrapped in its own connection error."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ReplyTooLarge):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _http_module(client_class: type):
    for base in client_class.__mro__:
        if base.__name__ == "AsyncClient":
            return sys.modules[base.__module__.split(".")[0]]
    raise TypeError(f"{client_class} is not an httpx AsyncClient")


@functools.cache
def _capped_stream_class(http):
    class CappedStream(http.AsyncByteStream):
        def __init__(self, inner, cap: int):
            self._inner = inner
            self._cap = cap

        async def __aiter__(self):
            received = 0
            async for chunk in self._inner:
                received += len(chunk)
                if received > self._cap:
                    raise ReplyTooLarge(f"the reply passed the cap of {self._cap} bytes; reading stopped there")
                yield chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    return CappedStream
