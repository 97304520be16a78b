"""The Starlette application: assembles the routes of every HTTP module.

Each module under ``engine.http`` that serves endpoints exposes ``routes: list[BaseRoute]``
and is listed in :data:`ROUTE_MODULES`. Shared state (settings, the Redis client) lives on
``app.state`` and is created by the caller, so tests and ``contest serve`` wire it alike.
"""

from __future__ import annotations

import importlib

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from engine.core.settings import Settings
from engine.runtime.redisconn import AsyncRedis

__all__ = ["ROUTE_MODULES", "create_app"]

ROUTE_MODULES = (
    "engine.http.health",  # /healthz, /readyz, /metrics
    "engine.http.banks",  # /api/banks ...
    "engine.http.contests",  # /api/contests ...
    "engine.http.campaigns",  # /api/campaigns ...
    "engine.http.orgs",  # /api/org: the calling organisation, its time zone
    "engine.http.public",  # /public/contests/{id} ...
    "engine.http.console",  # /console ... (the organiser console's pages)
    "engine.http.play",  # /play: the member player
)


def _collect_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for name in ROUTE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        routes.extend(module.routes)
    return routes


def create_app(settings: Settings, redis_client: AsyncRedis) -> Starlette:
    """The HTTP application over *redis_client*, configured by *settings*."""
    from engine.http.auth import session_middleware
    from engine.http.errors import install_error_handlers
    from engine.http.health import HttpMetrics

    app = Starlette(
        routes=_collect_routes(),
        middleware=[Middleware(HttpMetrics), session_middleware(settings)],
    )
    app.state.settings = settings
    app.state.redis = redis_client
    install_error_handlers(app)
    return app
