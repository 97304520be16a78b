"""Process plumbing shared by every part of the engine that does I/O.

Owns Redis connections and the embedded server (:mod:`.redisconn`), the server clock
(:mod:`.clock`), leases held in Redis (:mod:`.lease`), Prometheus metrics (:mod:`.metrics`,
:mod:`.counters`). May import :mod:`engine.core`, ``scoring`` and ``question_bank``.
"""
