"""Who and what a contest is made from, stored in Redis: organisations and their API keys
(:mod:`.orgs`), units and their registered members (:mod:`.units`), question banks and their
versions (:mod:`.banks`), members' signed join tokens (:mod:`.tokens`).

May import :mod:`engine.core`, :mod:`engine.runtime`, ``scoring`` and ``question_bank``.
"""
