"""Campaigns on Redis: a contest of an organisation run as many rounds (:mod:`.store`):
creating one, scheduling all its rounds at once through the contest store, reading its
rounds and its report.

May import :mod:`engine.contests` and everything below it (the pure half is
:mod:`engine.core.campaign`); it sits beside :mod:`engine.scheduling`, which it never imports.
"""
