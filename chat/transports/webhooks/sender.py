"""One delivery's POST: the target checked again (the SSRF rule, after DNS), the body
signed, the request sent to the address that was checked, no redirect followed."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import httpx

from chat.webhooks import services, signing
from chat.webhooks.targets import TargetRefused

USER_AGENT = "chat-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None  # the receiver's HTTP status, if it answered
    error: str = ""
    refused: bool = False  # the target is not allowed (any more): pause at once


def encode(body: dict[str, object]) -> bytes:
    """The bytes that are signed and sent (UTF-8 JSON)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def post(client: httpx.AsyncClient, claim: services.Claim) -> Outcome:
    try:  # resolving the name blocks: on a thread
        target = await asyncio.to_thread(services.target_check, claim.url)
    except TargetRefused as exc:
        return Outcome(False, error=str(exc), refused=True)
    body = encode(claim.body)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Host": target.host_header,
        signing.HEADER: signing.signature_header(claim.secret, timestamp, body),
        "X-Chat-Delivery": str(claim.id),
    }
    # TLS is verified against the name, while the connection goes to the address.
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        request = client.build_request(
            "POST", target.connect_url, content=body, headers=headers, extensions=extensions
        )
        response = await client.send(request, stream=True)  # the body is never read
        await response.aclose()
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
    if 200 <= response.status_code < 300:
        return Outcome(True, response.status_code)
    return Outcome(False, response.status_code, error=f"HTTP {response.status_code}")
