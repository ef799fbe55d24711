"""The sign-up throttle: at most SIGNUP_RATE_LIMIT sign-up submissions per client
address, and SIGNUP_GLOBAL_RATE_LIMIT from everyone, in any SIGNUP_RATE_WINDOW_MINUTES,
counted in the database (SignupAttempt) so that every server process sees the same
count.

An IPv6 client owns a whole /64 (it can pick any of its 2^64 addresses), so the /64 is
its address here; an IPv4 address (or an IPv4-mapped IPv6 one) counts on its own. The
global limit bounds a flood spread over many networks.

Only admitted submissions are counted: a refused one writes nothing, so a flood costs
the database reads, not a growing table. django-axes only counts failed log-ins; a
sign-up is not one, so it is counted here.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .client import client_ip
from .models import SignupAttempt


def signup_source(ip: str) -> str:
    """The address a sign-up is counted under: the IPv4 address, or the IPv6 /64's
    first address."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False).network_address)
    return str(address)


def signup_retry_after(request: HttpRequest) -> tuple[int, str] | None:
    """None when this sign-up submission may go on (it is then counted), else the
    seconds to wait and whose limit it hit ("address" or "global").

    The count is read, then the attempt saved, then read again up to the saved one:
    two processes that race are put in order by the rows' ids, and the later one, seeing
    the earlier, takes its own attempt back.
    """
    now = timezone.now()
    window = timedelta(minutes=settings.SIGNUP_RATE_WINDOW_MINUTES)
    source = signup_source(client_ip(request))
    recent = SignupAttempt.objects.filter(created__gt=now - window)
    mine = recent.filter(ip_address=source)
    refusal = _over_limits(mine, recent, now, window)
    if refusal is not None:
        return refusal
    SignupAttempt.objects.filter(created__lte=now - window).delete()
    attempt = SignupAttempt.objects.create(ip_address=source, created=now)
    earlier = {"pk__lt": attempt.pk}
    refusal = _over_limits(mine.filter(**earlier), recent.filter(**earlier), now, window)
    if refusal is not None:
        attempt.delete()
    return refusal


def _over_limits(
    mine: QuerySet[SignupAttempt],
    everyone: QuerySet[SignupAttempt],
    now: datetime,
    window: timedelta,
) -> tuple[int, str] | None:
    for attempts, limit, whose in (
        (mine, settings.SIGNUP_RATE_LIMIT, "address"),
        (everyone, settings.SIGNUP_GLOBAL_RATE_LIMIT, "global"),
    ):
        if attempts.count() >= limit:
            # The next attempt may go on once only limit - 1 of these are left in the
            # window, i.e. when the limit-th newest leaves it.
            created = attempts.order_by("-created").values_list("created", flat=True)
            leaves = created[limit - 1]
            return max(1, math.ceil((leaves + window - now).total_seconds())), whose
    return None
