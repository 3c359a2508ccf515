"""The website in real Chromium, against the compiled components in the
test host and a real MariaDB.

The tests share one app (starting it takes a while), and run in the order
written: the first one seeds the data the README's screenshots show.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import feedparser
from playwright.sync_api import Browser, BrowserContext, Page, expect

from conftest import DESKTOP, PHONE, REPO

PASSWORD = "analytical engine"
DOCS_SCREENSHOTS = os.environ.get("OMNI_DOCS_SCREENSHOTS")
README_SCREENSHOTS = ("home-desktop", "project-phone")


def console_errors(page: Page) -> list[str]:
    """Collects the page's console errors (a CSP violation is one), except
    Chromium's note on every 4xx page, which the tests ask for."""
    errors: list[str] = []

    def record(message) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource: the server"):
            errors.append(message.text)

    page.on("console", record)
    return errors


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(site_nav(page).get_by_role("link", name=username, exact=True)).to_be_visible()


def site_nav(page: Page):
    """The site header's links."""
    return page.get_by_role("navigation", name="Site")


def h1(page: Page):
    return page.get_by_role("heading", level=1)


def run_axe(page: Page, axe_source: str) -> list[dict]:
    """axe-core's violations on the current page."""
    page.evaluate(axe_source)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return result["violations"]


def test_every_page_passes_axe_and_is_screenshotted_at_phone_and_desktop_width(
    browser: Browser, base_url: str, api, axe_source: str, screenshots: Path, writeup_origin: str
):
    # The harness itself: axe finds a missing label when there is one.
    probe = browser.new_page()
    probe.set_content("<!doctype html><html lang=en><title>t</title><main><h1>t</h1><input></main></html>")
    assert "label" in {v["id"] for v in run_axe(probe, axe_source)}
    probe.close()

    ada_id, ada = api.user("ada", PASSWORD, "Ada Lovelace")
    _, grace = api.user("grace", PASSWORD, "Grace Hopper")
    _, linus = api.user("linus", PASSWORD)
    api.call("PATCH", "/api/me", {"bio": "Mathematician. Wrote the first published program, for an engine that was never built."}, ada)
    api.post(linus, "A tiny kernel for the Raspberry Pi", "Boots on a Pi 4, schedules two tasks and blinks the LED. Just a hobby, won't be big and professional.")
    grace_post = api.post(grace, "COBOL to WebAssembly", "A compiler from COBOL-85 to WebAssembly components, so that payroll runs at the edge.")
    engine = api.post(
        ada,
        "Analytical Engine emulator",
        "A cycle-accurate emulator of Babbage's Analytical Engine, written in Rust and compiled to "
        "WebAssembly.\n\nIt runs the Bernoulli numbers program from Note G, card by card, and shows the "
        "mill and the store as it goes.",
        f"{writeup_origin}/ada/engine.md",
    )
    api.call("POST", f"/api/posts/{engine}/comments", {"body": "Does it model the carriage of tens in the mill?"}, grace)
    own_comment = api.call("POST", f"/api/posts/{engine}/comments", {"body": "It does: anticipating carriage, as Babbage drew it."}, ada)

    def context(**options) -> BrowserContext:
        # axe is a script, and the pages' CSP allows none: bypass it here
        # (the journey test below runs with the CSP and without JavaScript).
        return browser.new_context(base_url=base_url, bypass_csp=True, **options)

    anonymous = context().new_page()
    logged_in = context().new_page()
    log_in(logged_in, "ada")

    pages = [
        ("home", logged_in, "/"),
        ("project", logged_in, f"/posts/{engine}"),
        ("profile", logged_in, f"/users/{ada_id}"),
        ("new-project", logged_in, "/new"),
        ("edit-project", logged_in, f"/posts/{engine}/edit"),
        ("edit-comment", logged_in, f"/comments/{own_comment['id']}/edit"),
        ("edit-profile", logged_in, "/profile/edit"),
        ("other-project", logged_in, f"/posts/{grace_post}"),
        ("home-logged-out", anonymous, "/"),
        ("project-logged-out", anonymous, f"/posts/{engine}"),
        ("signup", anonymous, "/signup"),
        ("login", anonymous, "/login"),
        ("not-found", anonymous, "/no-such-page"),
        ("search", anonymous, "/search?q=engine"),
        ("search-empty", anonymous, "/search"),
    ]
    problems = []

    def check(name: str, page: Page) -> None:
        for violation in run_axe(page, axe_source):
            nodes = [n["target"] for n in violation["nodes"]]
            line = f"{name}: {violation['impact']} {violation['id']}: {violation['help']} {nodes}"
            print(line)
            if violation["impact"] in ("serious", "critical"):
                problems.append(line)
        assert h1(page).count() == 1, f"{name} has {h1(page).count()} h1 elements"
        for width, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            page.screenshot(path=str(screenshots / f"{name}-{width}.png"), full_page=True)

    for name, page, path in pages:
        page.goto(path)
        check(name, page)

    # Forms sent back with their errors in place.
    logged_in.goto("/new")
    logged_in.get_by_label("Title").fill("   ")
    logged_in.get_by_label("Write-up URL").fill("ftp://example.com/x")
    logged_in.get_by_role("button", name="Publish").click()
    check("new-project-errors", logged_in)
    anonymous.goto("/login")
    anonymous.get_by_label("Username").fill("ada")
    anonymous.get_by_label("Password").fill("not the password")
    anonymous.get_by_role("button", name="Log in").click()
    check("login-errors", anonymous)

    # Dark mode has its own colours, so its own contrast.
    dark = context(color_scheme="dark").new_page()
    for name, path in (("home-dark", "/"), ("project-dark", f"/posts/{engine}")):
        dark.goto(path)
        check(name, dark)

    assert not problems, "serious or critical accessibility violations:\n" + "\n".join(problems)

    # The README shows two of them, committed under docs/screenshots.
    for name in README_SCREENSHOTS:
        if DOCS_SCREENSHOTS:
            Path(DOCS_SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            shutil.copy(screenshots / f"{name}.png", Path(DOCS_SCREENSHOTS) / f"{name}.png")
        assert (REPO / "docs/screenshots" / f"{name}.png").is_file(), (
            f"docs/screenshots/{name}.png is missing: run "
            "OMNI_DOCS_SCREENSHOTS=docs/screenshots scripts/browser-test"
        )


def test_the_whole_journey_works_with_javascript_off(browser: Browser, base_url: str, api):
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    errors = console_errors(page)

    # Someone else's projects: more than a page of them.
    _, hedy = api.user("hedy", PASSWORD, "Hedy Lamarr")
    hedy_posts = [api.post(hedy, f"Frequency hopping, part {n}") for n in range(1, 12)]

    # Sign up. A bad username is refused next to its field, input kept.
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill("alan t")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Display name").fill("Alan Turing")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#username-error")).to_contain_text("Username may contain only")
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Username")).to_have_value("alan t")
    expect(page.get_by_label("Display name")).to_have_value("Alan Turing")
    expect(page.get_by_label("Password")).to_have_value("")
    page.get_by_label("Username").fill("alan")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(base_url + "/")
    expect(site_nav(page).get_by_role("link", name="alan", exact=True)).to_be_visible()

    # Log out, and log in again (a wrong password first).
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill("alan")
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.get_by_label("Username")).to_have_value("alan")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(site_nav(page).get_by_role("link", name="alan", exact=True)).to_be_visible()

    # Publish a project.
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Title").fill("Universal machine")
    page.get_by_label("Description").fill("A machine that simulates\nany other machine.")
    page.get_by_label("Write-up URL").fill("https://example.com/on-computable-numbers.md")
    page.get_by_role("button", name="Publish").click()
    expect(h1(page)).to_have_text("Universal machine")
    write_up = page.get_by_role("link", name="Read the write-up")
    expect(write_up).to_have_attribute("href", "https://example.com/on-computable-numbers.md")
    expect(write_up).to_have_attribute("rel", "noopener nofollow ugc")
    project_url = page.url

    # Find it on Home and open it.
    page.get_by_role("link", name="Home").click()
    page.get_by_role("link", name="Universal machine").click()
    expect(page).to_have_url(project_url)

    # Comment, then edit the comment.
    page.get_by_label("Comment", exact=True).fill("It halts. Or does it?")
    page.get_by_role("button", name="Post comment").click()
    comment = page.get_by_role("listitem", name="Comment by Alan Turing")
    expect(comment).to_contain_text("It halts. Or does it?")
    comment.get_by_role("link", name="Edit").click()
    expect(h1(page)).to_have_text("Edit comment")
    expect(page.get_by_label("Comment", exact=True)).to_have_value("It halts. Or does it?")
    page.get_by_label("Comment", exact=True).fill("Nobody can tell in general.")
    page.get_by_role("button", name="Save").click()
    expect(comment).to_contain_text("Nobody can tell in general.")
    expect(comment).to_contain_text("edited")

    # Edit the project; an empty title is refused in place first.
    page.get_by_role("article").get_by_role("link", name="Edit").click()
    expect(h1(page)).to_have_text("Edit project")
    page.get_by_label("Title").fill(" ")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#title-error")).to_have_text("Title must contain visible characters.")
    expect(page.get_by_label("Description")).to_have_value("A machine that simulates\nany other machine.")
    page.get_by_label("Title").fill("Universal computing machine")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(project_url)
    expect(h1(page)).to_have_text("Universal computing machine")

    # Someone else's project: a comment form, but no edit controls.
    page.goto(f"/posts/{hedy_posts[0]}")
    expect(h1(page)).to_have_text("Frequency hopping, part 1")
    expect(page.get_by_role("button", name="Post comment")).to_be_visible()
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)

    # Page through every project, ten at a time, and back.
    total = api.get("/api/posts")["total_items"]
    assert total > 10
    page.goto("/")
    titles: list[str] = []
    newest_first = page.locator("ol.cards h2")
    expect(page.get_by_role("link", name="Newer")).to_have_count(0)
    pages = 0
    while True:
        pages += 1
        titles += newest_first.all_inner_texts()
        older = page.get_by_role("link", name="Older")
        if older.count() == 0:
            break
        expect(newest_first).to_have_count(10)
        older.click()
    assert len(titles) == total and len(set(titles)) == total
    assert titles[0] == "Universal computing machine"
    assert titles.index("Frequency hopping, part 11") < titles.index("Frequency hopping, part 1")
    assert pages == (total + 9) // 10
    page.get_by_role("link", name="Newer").click()
    expect(page).to_have_url(re.compile(r"\?after=\d+$"))
    expect(newest_first).to_have_count(10)

    # Log out: the session cookie is gone with it.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert not [c for c in context.cookies() if c["value"].startswith("s.")]
    page.goto(project_url)
    expect(page.get_by_role("link", name="Log in to comment")).to_be_visible()

    # Unknown paths and ids get the friendly 404 page.
    for path in ("/no-such-page", "/posts/1", "/users/1", "/posts/not-an-id"):
        response = page.goto(path)
        assert response.status == 404, path
        expect(h1(page)).to_have_text("Page not found")
        expect(page.get_by_role("link", name="Go to the newest projects")).to_be_visible()

    # The pages need no script and break no rule of their CSP.
    assert errors == [], errors
    context.close()


def test_a_write_up_is_rendered_found_by_search_and_followed_by_its_feed(
    browser: Browser, base_url: str, api, writeup_origin: str
):
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    errors = console_errors(page)
    api.user("turing", PASSWORD, "Alan M. Turing")
    log_in(page, "turing")

    # Publish a project whose write-up a (local) forge serves.
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Title").fill("Computable numbers")
    page.get_by_label("Description").fill("Machines that compute, and what they cannot.")
    source = f"{writeup_origin}/turing/on-computable-numbers.md"
    page.get_by_label("Write-up URL").fill(source)
    page.get_by_role("button", name="Publish").click()
    expect(h1(page)).to_have_text("Computable numbers")
    project_url = page.url

    # The write-up is on the page, rendered and sanitised; its relative
    # link and image point at the source, and the image loads.
    writeup = page.get_by_role("region", name="Write-up")
    expect(writeup.get_by_role("heading", level=2, name="On computable numbers")).to_be_visible()
    expect(writeup.get_by_role("heading", level=3, name="Machines")).to_be_visible()
    expect(writeup.locator("table td").first).to_have_text("0")
    expect(writeup).to_contain_text("☑ define the machine")
    expect(writeup.get_by_role("link", name="the proof")).to_have_attribute(
        "href", f"{writeup_origin}/turing/proof.md"
    )
    image = writeup.get_by_role("img", name="A machine's tape")
    expect(image).to_have_attribute("src", f"{writeup_origin}/turing/tape.png")
    assert image.evaluate("img => img.naturalWidth") == 1
    assert page.title() != "owned" and writeup.locator("script").count() == 0

    # Find it by search, from the box in every page's header.
    page.get_by_role("link", name="Home").click()
    page.get_by_role("searchbox", name="Search projects").fill("entscheidung computable")
    page.get_by_role("button", name="Search").click()
    expect(h1(page)).to_have_text("Search")
    expect(page.get_by_role("status")).to_contain_text("1 project matches")
    page.get_by_role("link", name="Computable numbers").click()
    expect(page).to_have_url(project_url)

    # Follow the site's feed, from the link on Home: a feed reader finds the
    # project in it.
    page.get_by_role("link", name="Home").click()
    feed_link = page.get_by_role("link", name="Atom feed of the latest projects")
    href = feed_link.get_attribute("href")
    assert page.locator('head link[rel="alternate"][type="application/atom+xml"]').get_attribute("href") == href
    response = page.request.get(base_url + href)
    assert response.status == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.body())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    entry = next(e for e in feed.entries if e.title == "Computable numbers")
    assert entry.link == project_url
    assert entry.author == "Alan M. Turing"

    # The page kept to its CSP: the image was allowed, no script ran.
    assert errors == [], errors
    context.close()


def test_a_form_on_another_site_cannot_act_for_a_logged_in_visitor(browser: Browser, base_url: str, api):
    _, token = api.user("mallory", PASSWORD)
    target = api.post(token, "Bait")
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    log_in(page, "mallory")

    # A page on another site (localhost is not 127.0.0.1) with a form that
    # posts a comment to Omni; the visitor is tricked into pressing it.
    attack = (
        f'<!doctype html><title>Win a prize</title><form method="post" action="{base_url}/posts/{target}/comments">'
        '<input type="hidden" name="body" value="spam"><input type="hidden" name="csrf" value="00">'
        "<button>Claim</button></form>"
    ).encode()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://localhost:{server.server_address[1]}/")
        with page.expect_response(re.compile(r"/comments$")) as posted:
            page.get_by_role("button", name="Claim").click()
        assert posted.value.status == 403
        expect(h1(page)).to_have_text("Not allowed")
    finally:
        server.shutdown()
    assert api.get(f"/api/posts/{target}/comments")["total_items"] == 0
    context.close()

