"""The scheduler every gateway process runs (:mod:`.scheduler`, started by
:mod:`.background`): timed transitions of contests under one lease, and each mode's periodic
work (conductors of running shows, expiry of window attempts).

May import :mod:`engine.contests` and everything below it.
"""
