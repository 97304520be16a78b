"""The Redis fixture itself: a real server, isolated per test, leaving nothing on disk."""

import pytest
import redis

from scoring.redis_server import (
    MIN_VERSION,
    RedisServer,
    check_version,
    find_redis_server,
    parse_version,
)


def test_fixture_server_is_real_redis(redis_sync: redis.Redis) -> None:
    info = redis_sync.info("server")
    assert info["redis_version"]
    assert redis_sync.config_get("appendonly")["appendonly"] == "no"
    assert redis_sync.config_get("save")["save"] == ""


def test_flushed_between_tests_first(redis_sync: redis.Redis) -> None:
    assert redis_sync.dbsize() == 0
    redis_sync.set("leftover", "1")


def test_flushed_between_tests_second(redis_sync: redis.Redis) -> None:
    assert redis_sync.get("leftover") is None


def test_server_keeps_nothing_on_disk() -> None:
    server = RedisServer().start()
    folder = server.data_dir
    with redis.Redis(port=server.port) as client:
        client.set("k", "v")
    server.stop()
    assert not folder.exists()


def test_aof_survives_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with RedisServer(data_dir=tmp_path, appendonly=True, appendfsync="always") as server:
        with redis.Redis(port=server.port) as client:
            client.set("answer", "42")
        port = server.port
    with RedisServer(data_dir=tmp_path, appendonly=True, port=port) as server:
        with redis.Redis(port=server.port) as client:
            assert client.get("answer") == b"42"


def test_a_failed_start_leaves_no_process_pipe_or_folder() -> None:
    """A refused option makes redis-server exit at start: the error says why, and the stderr
    pipe and the temporary folder are released (they used to leak, and the ResourceWarning
    failed an unrelated later test under filterwarnings=error)."""
    server = RedisServer(extra={"no-such-option": "1"})
    folder = server.data_dir
    with pytest.raises(RuntimeError, match="exited at start"):
        server.start()
    assert server.process is None
    assert not folder.exists()


def test_versions_are_read_from_redis_and_valkey_banners() -> None:
    assert parse_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc") == (7, 0, 15)
    assert parse_version("Redis server v=6.2.6 sha=1 malloc=libc bits=64") == (6, 2, 6)
    assert parse_version("Valkey server v=9.1.2 sha=00000000:1 malloc=libc") == (9, 1, 2)
    with pytest.raises(ValueError):
        parse_version("redis-server: command not found")


def test_the_server_the_suite_runs_is_new_enough() -> None:
    assert check_version(find_redis_server())[:2] >= MIN_VERSION
