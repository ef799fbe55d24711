"""A short name for the device a session signed in from, read from its User-Agent
("Chrome on Windows", "Safari on iPhone"): pure, for the account page."""

from __future__ import annotations

import re

# First match wins: Edge and Opera say "Chrome" too, Chrome says "Safari".
BROWSERS = (
    (re.compile(r"Edg(e|A|iOS)?/"), "Edge"),
    (re.compile(r"OPR/|Opera"), "Opera"),
    (re.compile(r"Firefox/|FxiOS/"), "Firefox"),
    (re.compile(r"Chrome/|CriOS/|Chromium/"), "Chrome"),
    (re.compile(r"Safari/"), "Safari"),
    (re.compile(r"python-httpx|python-requests|curl/|Wget/", re.I), "a script"),
)
SYSTEMS = (
    (re.compile(r"iPhone"), "iPhone"),
    (re.compile(r"iPad"), "iPad"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"Windows"), "Windows"),
    (re.compile(r"Mac OS X|Macintosh"), "macOS"),
    (re.compile(r"CrOS"), "ChromeOS"),
    (re.compile(r"Linux|X11"), "Linux"),
)


def device_label(user_agent: str) -> str:
    """ "Chrome on Windows"; "Unknown device" when the User-Agent says nothing we know."""
    browser = next((name for pattern, name in BROWSERS if pattern.search(user_agent)), "")
    system = next((name for pattern, name in SYSTEMS if pattern.search(user_agent)), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"
