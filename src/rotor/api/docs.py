"""``/docs``: the OpenAPI document rendered by Swagger UI, entirely from rotor itself.

Swagger UI's files come from the ``fastapi-offline`` distribution (which bundles them),
and the page's start-up script is rotor's (``static/docs.js``), so the page loads
nothing from another origin and runs no inline script; its Content-Security-Policy
allows only this origin. Like ``/openapi.json``, the page and its assets need no
credentials: they hold no data.
"""

from __future__ import annotations

import html
import importlib.resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from rotor import errors

router = APIRouter(include_in_schema=False)

ASSETS = "/docs/assets"
#: Only this origin; images also as data: URIs (Swagger UI's CSS draws its icons so).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _swagger_ui(name: str) -> Path:
    return Path(str(importlib.resources.files("fastapi_offline") / "static" / name))


def _own(name: str) -> Path:
    return Path(str(importlib.resources.files("rotor.api") / "static" / name))


#: Every file the page loads, by the name it is served under.
_FILES = {
    "swagger-ui-bundle.js": lambda: _swagger_ui("swagger-ui-bundle.js"),
    "swagger-ui.css": lambda: _swagger_ui("swagger-ui.css"),
    "favicon.png": lambda: _swagger_ui("favicon.png"),
    "docs.js": lambda: _own("docs.js"),
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/docs.js"></script>
</body>
</html>
"""


@router.get("/docs")
def docs_page(request: Request) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    page = _PAGE.format(
        title=html.escape(f"{request.app.title} API"),
        assets=html.escape(root + ASSETS),
        openapi_url=html.escape(root + (request.app.openapi_url or "/openapi.json")),
    )
    return HTMLResponse(page, headers=_HEADERS)


@router.get(ASSETS + "/{name}")
def docs_asset(name: str) -> FileResponse:
    locate = _FILES.get(name)
    if locate is None:
        raise errors.NotFound(f"no file {name!r} in the API documentation page")
    return FileResponse(locate(), headers=_HEADERS)
