"""The Redis-backed scoring core: answers, points, leaderboards, finalize, audit."""
