"""The member player (``/play``): a static page and its plain JavaScript modules, served by
the engine itself, and the player's texts as JSON.

=================================  ==========================================================
``GET /play``                      the page (docs/player.md: the link carries the WebSocket
                                   URL and the join token in its fragment)
``GET /play/js/<file>.js``         its JavaScript modules (no build step)
``GET /play/player.css``           its style sheet
``GET /play/i18n/<lang>.json``     the ``player`` catalogue of *lang* (``vi``, ``en``):
                                   English text → translated text (another
                                   language: 404 ``http_404``)
=================================  ==========================================================

The page talks to the gateway over the member protocol only (docs/protocol.md); the HTTP
side serves files and texts and knows nothing of members.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from engine.web import i18n

__all__ = ["PLAYER_DIR", "link", "routes"]

PLAYER_DIR = Path(i18n.__file__).resolve().parent / "play"
"""The player's files (package data of ``engine.web``)."""

# The page may load only its own files and open WebSockets (the gateway listens on its own
# port, so any ws:/wss: origin); no inline script, no framing by other sites.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src * data:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def link(http_url: str, ws_url: str, token: str, lang: str | None = None) -> str:
    """A member's player link: the page at *http_url* (the engine's HTTP base, no trailing
    slash), with the contest's WebSocket URL *ws_url* (``ws://host:port/ws/<contest>``) and
    the join *token* in the fragment, which browsers never send to a server (docs/player.md).
    """
    fragment = f"ws={quote(ws_url, safe=':/')}&token={quote(token, safe='.')}"
    if lang is not None:
        fragment += f"&lang={quote(lang, safe='')}"
    return f"{http_url}/play#{fragment}"


async def page(request: Request) -> Response:
    return FileResponse(PLAYER_DIR / "index.html", headers=_HEADERS)


async def catalogue(request: Request) -> Response:
    lang = request.path_params["lang"]
    if lang not in i18n.LOCALES:
        # The API's error body, as for any unknown path (engine.http.errors).
        raise HTTPException(404, f"no player texts for {lang!r}: one of {', '.join(i18n.LOCALES)}")
    return JSONResponse(i18n.messages("player", lang), headers={"Cache-Control": "no-cache"})


class _Files(StaticFiles):
    """Static files with the page's headers (the modules run under its policy)."""

    async def get_response(self, path: str, scope: object) -> Response:
        response = await super().get_response(path, scope)  # type: ignore[arg-type]
        response.headers.update({"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
        return response


routes: list[BaseRoute] = [
    Route("/play", page, methods=["GET"]),
    Route("/play/i18n/{lang}.json", catalogue, methods=["GET"]),
    Mount("/play", app=_Files(directory=PLAYER_DIR), name="play"),
]
