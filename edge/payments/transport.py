"""One HTTP POST to a provider, with its timeouts and a bounded answer, errors classified.

What went wrong decides what may be done next, so the classification is the point here:
a connection that was never made means the request never left (``NotDelivered``); anything
after that — a timeout, a broken connection, a 5xx — leaves the outcome unknown.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiohttp

from .base import NotDelivered, ProviderBusy, ProviderGarbage, ProviderUnreachable


@dataclass(frozen=True, slots=True)
class HttpLimits:
    timeout_s: float
    connect_timeout_s: float
    max_bytes: int


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    content_type: str,
    limits: HttpLimits,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> bytes:
    """POST ``body`` and return the answer's bytes; raise a classified ``PaymentError``."""
    timeout = aiohttp.ClientTimeout(total=limits.timeout_s, connect=limits.connect_timeout_s)
    try:
        async with session.post(url, data=body, headers={"Content-Type": content_type},
                                timeout=timeout, ssl=ssl_context or True,
                                allow_redirects=False) as response:
            if response.status >= 500:
                raise ProviderBusy(f"HTTP {response.status} from {url}")
            if response.status != 200:
                raise ProviderGarbage(f"HTTP {response.status} from {url}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(16 * 1024):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise ProviderGarbage(f"answer from {url} is over {limits.max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:
        raise NotDelivered(f"cannot connect to {url}: {err}") from err
    except (TimeoutError, aiohttp.ClientError) as err:
        raise ProviderUnreachable(f"no complete answer from {url}: "
                                  f"{err or type(err).__name__}") from err
