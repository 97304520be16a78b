"""The member WebSocket gateway, served by picows (a Cython WebSocket library).

Owns the server and its connections (:mod:`.server`: it pumps frames through the sans-I/O
:class:`engine.core.session.Session`), the relay of published contest events to local
sockets (:mod:`.relay`), and the I/O half of each member's requests (:mod:`.members`).

May import :mod:`engine.contests` and everything below it; not :mod:`engine.http` or
:mod:`engine.cli`.
"""
