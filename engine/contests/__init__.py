"""Contests on Redis: definitions, states and transitions (:mod:`.store`), standings and
leaderboards (:mod:`.standings`), live statistics (:mod:`.stats`), members online
(:mod:`.presence`).

May import the modes (:mod:`engine.live`, :mod:`engine.window`) and everything below them.
"""
