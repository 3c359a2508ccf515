"""Schemathesis hooks for scripts/fuzz-api (loaded by scripts/schemathesis.toml).

Authentication: every operation is sent with the fuzz user's bearer token
($OMNI_FUZZ_TOKEN), except the two that end the caller's session
(`POST /api/logout` and `/api/logout-all`), which would end that token and
leave every later request unauthenticated. Each of their calls gets a
session of its own instead: a fresh user signed up and logged in on
$OMNI_FUZZ_URL.

Spin answers a request whose header value is not UTF-8 with an empty 500
before any component runs, and Python's HTTP client sends a header value as
Latin-1, so any character from U+0080 to U+00FF arrives as a byte no
component can ever see. `exclude-header-characters` keeps such characters
out of the fuzzing phase, but the coverage phase ignores it when it builds
values that break a header's pattern (the `Idempotency-Key`'s
`^[!-~]{1,255}$`). This hook drops those cases too, in every phase; every
other header value, ASCII control characters and over-long values
included, is still sent.
"""

import json
import os
import secrets
import urllib.request

import schemathesis

SESSION_ENDING_PATHS = ["/api/logout", "/api/logout-all"]


def _bearer(case, token):
    case.headers = case.headers or {}
    case.headers["Authorization"] = f"Bearer {token}"


@schemathesis.auth(refresh_interval=None).skip_for(path=SESSION_ENDING_PATHS)
class FuzzUser:
    """The fuzz user's one token."""

    def get(self, case, ctx):
        return os.environ["OMNI_FUZZ_TOKEN"]

    def set(self, case, data, ctx):
        _bearer(case, data)


def _post(path, body):
    request = urllib.request.Request(
        os.environ["OMNI_FUZZ_URL"] + path,
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.load(response)


@schemathesis.auth(refresh_interval=None).apply_to(path=SESSION_ENDING_PATHS)
class FreshSession:
    """A new user's new session, for each call that ends one."""

    def get(self, case, ctx):
        name = "s" + secrets.token_hex(8)
        password = secrets.token_urlsafe(16)
        _post("/api/signup", {"username": name, "password": password})
        return _post("/api/login", {"username": name, "password": password})["token"]

    def set(self, case, data, ctx):
        _bearer(case, data)


@schemathesis.hook
def filter_case(context, case):
    headers = case.headers or {}
    return all(str(value).isascii() for value in headers.values())
