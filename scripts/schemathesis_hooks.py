"""Schemathesis hooks for scripts/fuzz-api (loaded by scripts/schemathesis.toml).

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

import schemathesis


@schemathesis.hook
def filter_case(context, case):
    headers = case.headers or {}
    return all(str(value).isascii() for value in headers.values())
