"""The browser pages: the organiser console (``/console``) and the member player (``/play``).

This package holds what the pages are made of (templates, scripts, styles, the message
catalogues in ``locale/``) and the pure helpers that render them (:mod:`engine.web.i18n`:
catalogues, Vietnamese number and date formats). It serves nothing itself and touches no
Redis: the HTTP application (:mod:`engine.http`) mounts the pages, and the console speaks
to the engine only through the same HTTP API an organiser's key allows.
"""
