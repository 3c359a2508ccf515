"""Fixtures for the browser tests: the app in the test host over a fresh
database, Debian's Chromium driven by Playwright, axe-core, and helpers to
seed data through the API.

Environment (set by scripts/browser-test):
- OMNI_WEB_SERVER: the server binary (default target/debug/omni-web-server);
- OMNI_AXE: axe-core's axe.min.js;
- OMNI_CHROMIUM: the browser (default /usr/bin/chromium);
- OMNI_SCREENSHOTS: where screenshots go (default target/browser-screenshots);
- OMNI_DOCS_SCREENSHOTS: if set, the README's screenshots are rewritten there.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
SERVER = Path(os.environ.get("OMNI_WEB_SERVER", REPO / "target/debug/omni-web-server"))
AXE = Path(os.environ.get("OMNI_AXE", REPO / "target/browser-node/node_modules/axe-core/axe.min.js"))
CHROMIUM = os.environ.get("OMNI_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("OMNI_SCREENSHOTS", REPO / "target/browser-screenshots"))

# Root here, and the network is closed: no sandbox, no GPU, and none of the
# background connections Chromium would otherwise make (and have refused).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# CI shares two cores with other work: wait longer than Playwright's 5 s
# before calling an expectation failed.
expect.set_options(timeout=20_000)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


# The write-ups a local server offers, as a forge would serve raw files.
WRITEUPS = {
    "/turing/on-computable-numbers.md": (
        "# On computable numbers\n\n"
        "With an application to the *Entscheidungsproblem*. See [the proof](proof.md).\n\n"
        "![A machine's tape](tape.png)\n\n"
        "## Machines\n\n"
        "| Symbol | Move |\n|---|---|\n| 0 | R |\n| 1 | L |\n\n"
        "- [x] define the machine\n- [ ] decide everything\n\n"
        "```text\nq1 S0 S1 R q2\n```\n\n"
        "<script>document.title = 'owned'</script>\n"
    ),
    "/ada/engine.md": (
        "# The engine\n\nA cycle-accurate emulator, in Rust, of the machine Babbage designed.\n\n"
        "## Running it\n\n```sh\ncargo run --release -- note-g.cards\n```\n"
    ),
}
# A 1x1 PNG, so that the write-up's image really loads.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


class WriteupSource(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path in WRITEUPS:
            body, kind = WRITEUPS[self.path].encode(), "text/markdown; charset=utf-8"
        elif self.path.endswith(".png"):
            body, kind = PIXEL, "image/png"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def writeup_origin() -> str:
    """A local server of write-ups, which the app may fetch from as its
    operator's origin (`writeup_extra_origin`)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WriteupSource)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def base_url(writeup_origin) -> str:
    """Starts the app (all components, a fresh database) and yields its URL."""
    if not SERVER.is_file():
        pytest.fail(f"{SERVER} is missing: cargo build -p omni-testkit --bin omni-web-server")
    log = tempfile.TemporaryFile()
    environment = os.environ | {"OMNI_WRITEUP_EXTRA_ORIGIN": writeup_origin}
    server = subprocess.Popen(
        [str(SERVER)], stdout=subprocess.PIPE, stderr=log, text=True, env=environment
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(server.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=600)
    if not line or not line[0].startswith("http"):
        server.kill()
        log.seek(0)
        pytest.fail("the server did not start:\n" + log.read().decode(errors="replace")[-4000:])
    yield line[0].strip()
    server.kill()
    server.wait()


@pytest.fixture(scope="session")
def browser() -> Browser:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: npm install axe-core (scripts/browser-test does)")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


class Api:
    """Seeds data through the JSON API, which is faster than the forms and
    is not what these tests are about."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def call(self, method: str, path: str, body: dict, token: str | None = None) -> dict:
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"content-type": "application/json"}
            | ({"authorization": f"Bearer {token}"} if token else {}),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.base_url + path, timeout=30) as response:
            return json.loads(response.read())

    def user(self, username: str, password: str, display_name: str = "") -> tuple[str, str]:
        """Signs a user up; returns (id, token)."""
        user = self.call(
            "POST",
            "/api/signup",
            {"username": username, "password": password, "display_name": display_name},
        )
        login = self.call("POST", "/api/login", {"username": username, "password": password})
        return user["id"], login["token"]

    def post(self, token: str, title: str, description: str = "", url: str = "https://example.com/readme.md") -> str:
        post = self.call(
            "POST", "/api/posts", {"title": title, "description": description, "markdown_url": url}, token
        )
        return post["id"]


@pytest.fixture(scope="session")
def api(base_url) -> Api:
    return Api(base_url)
