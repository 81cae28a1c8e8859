"""The console: one page (GET /) and its two assets, static files shipped in the package. The page holds no data
and needs no key to load; everything it shows it asks the API for, with the key typed into it."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)
ASSETS = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
# The page's own files only: scripts from this origin, no inline code, no frames, no other origins.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


def asset(name: str) -> bytes:
    return resources.files("graphrec.serving").joinpath("console", name).read_bytes()


@router.get("/")
def page() -> Response:
    return Response(asset("index.html"), media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


@router.get("/console/{name}")
def console_asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, f"no console file {name!r}")
    return Response(asset(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)
