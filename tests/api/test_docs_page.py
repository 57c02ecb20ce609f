"""``/docs`` in a real browser (the system Chromium, headless): Swagger UI comes from rotor
itself, the page lists the operations, nothing is loaded from anywhere but the server,
and the page's Content-Security-Policy (only this origin) is never violated."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, Route, sync_playwright

from tests.api import support
from tests.services.server import RunningServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Summaries of operations the page must show (one per tag).
SUMMARIES = ("Create a secret", "Rotate now", "Attach a policy", "List audit events, newest first")


@pytest.fixture(scope="module")
def docs_server(module_rotor_server: RunningServer) -> RunningServer:
    """A server of this module's own: it only serves /docs (the session's server checks
    that its run wrote audit events, which /docs does not)."""
    return module_rotor_server


@pytest.fixture
def anon(docs_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=docs_server.url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _open_docs(browser: Browser, url: str) -> tuple[Page, list[str], list[str], list[str]]:
    """The page at /docs once it lists the operations; with every URL it requested, those
    it was refused (another origin) and its console messages."""
    own = urlsplit(url).netloc
    requested: list[str] = []
    refused: list[str] = []
    console: list[str] = []

    def only_rotor(route: Route, request: Request) -> None:
        requested.append(request.url)
        if urlsplit(request.url).netloc == own or request.url.startswith("data:"):
            route.continue_()
        else:
            refused.append(request.url)
            route.abort()

    context = browser.new_context()
    page = context.new_page()
    # A guard against a hang, not a margin: the page normally lists them in a second.
    page.set_default_timeout(120_000)
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.route("**/*", only_rotor)
    response = page.goto(f"{url}/docs")
    assert response is not None
    assert response.status == 200
    for summary in SUMMARIES:
        page.get_by_text(summary, exact=True).first.wait_for(state="visible")
    return page, requested, refused, console


def test_docs_lists_the_operations_from_rotor_alone(
    browser: Browser, docs_server: RunningServer
) -> None:
    page, requested, refused, console = _open_docs(browser, docs_server.url)
    try:
        assert page.title() == "rotor API"
        for summary in SUMMARIES:
            assert page.get_by_text(summary, exact=True).count() >= 1, summary
        # Every request went to this server, on 127.0.0.1, and none elsewhere.
        assert refused == []
        assert {urlsplit(u).hostname for u in requested if not u.startswith("data:")} == {
            "127.0.0.1"
        }
        assert f"{docs_server.url}/openapi.json" in requested
        # The policy held: nothing was blocked, nothing failed to load.
        problems = [m for m in console if m.startswith("error") or "Security Policy" in m]
        assert problems == []
    finally:
        page.context.close()


def test_docs_and_its_assets_need_no_credentials(anon: httpx.Client) -> None:
    page = anon.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert "unsafe" not in policy
    assert "http" not in page.text.replace("http-equiv", "")
    for asset, kind in (
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("docs.js", "text/javascript"),
        ("favicon.png", "image/png"),
    ):
        response = anon.get(f"/docs/assets/{asset}")
        assert response.status_code == 200, asset
        assert response.headers["content-type"].startswith(kind), asset
    assert anon.get("/openapi.json").status_code == 200


def test_docs_serves_no_other_file(anon: httpx.Client) -> None:
    for name in ("index.html", "..%2Fdocs.py", "redoc.standalone.js"):
        support.assert_error(
            anon.get(f"/docs/assets/{name}"), 404, {"NotFound", "UnknownOperation"}
        )
