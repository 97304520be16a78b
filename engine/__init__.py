"""The contest engine, by concern (lowest first; a package imports only those below it):

=================  ===========================================================================
``core``           pure: lifecycle table, contest model, member session, show phases, limits,
                   wire messages, error codes, settings. No Redis, sockets, HTTP or clock.
``runtime``        process plumbing: Redis connections, the server clock, leases, metrics.
``directory``      organisations, API keys, units, question banks, join tokens (on Redis).
``live``           the live show: its contest mode, the conductor, show messages.
``window``         the window round: its contest mode, attempt messages, expiry notices.
``contests``       contests on Redis: store, the mode registry, standings, statistics,
                   presence.
``scheduling``     the per-process scheduler (timed transitions, each mode's periodic work).
``gateway``        the member WebSocket server: connections, relay, per-member requests.
``http``           the organiser and public HTTP API (Starlette).
``cli``            the ``contest`` command.
=================  ===========================================================================

``live`` and ``window`` do not import each other: a new contest mode is a new package beside
them plus one line in :mod:`engine.contests.modes`. import-linter checks these layers
(pyproject.toml) and docs/architecture.md draws them.
"""
