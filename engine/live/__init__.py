"""The live show: everyone gets the same question at the same second.

Owns the conductor that drives a show phase by phase under a lease (:mod:`.conductor`), the
broadcast messages of a show (:mod:`.show_messages`). To change what happens when a live
question opens, closes or is revealed, start here.

May import :mod:`engine.core`, :mod:`engine.runtime`, :mod:`engine.directory`, ``scoring``
and ``question_bank``; never :mod:`engine.window` (the modes are independent).
"""
