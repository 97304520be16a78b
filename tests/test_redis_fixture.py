"""The Redis fixture itself: a real server, isolated per test, leaving nothing on disk."""

import redis

from scoring.redis_server import RedisServer


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
