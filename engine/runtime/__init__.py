"""Process plumbing shared by every part of the engine that does I/O.

Owns Redis connections and the embedded server (:mod:`.redisconn`: one Redis or a Redis
Cluster from one URL), the server clock (:mod:`.clock`), leases held in Redis
(:mod:`.lease`), Prometheus metrics (:mod:`.metrics`, :mod:`.counters`), and logging a
loop's failures without a line per iteration (:mod:`.logs`). May import :mod:`engine.core`,
``scoring`` and ``question_bank``.
"""
