"""The window round: a self-paced, timed attempt between ``opens_at`` and ``closes_at``.

To change how an attempt starts, is answered, expires or is submitted, start here.

May import :mod:`engine.core`, :mod:`engine.runtime`, :mod:`engine.directory`, ``scoring``
and ``question_bank``; never :mod:`engine.live` (the modes are independent).
"""
