"""engine.runtime.redisconn: an explicit URL, or the embedded redis-server of a data folder."""

import json
from pathlib import Path

import redis

from engine.core.settings import Settings
from engine.runtime import redisconn
from engine.runtime.redisconn import (
    STATE_FILE,
    async_client,
    running_url,
    stop_embedded,
    sync_client,
)


def test_explicit_url_is_used_as_is(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=redis_url, data_dir=str(tmp_path))
    with sync_client(settings) as client:
        assert client.ping()
    assert not (tmp_path / STATE_FILE).exists()


def test_embedded_started_recorded_reused_and_stopped(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "var"))
    with redisconn.redis_url(settings) as url:
        state = json.loads((tmp_path / "var" / STATE_FILE).read_text())
        assert state["url"] == url and state["pid"] > 0 and state["kept"] is False
        assert running_url(tmp_path / "var") == url
        with redis.Redis.from_url(url) as client:
            assert client.config_get("appendonly")["appendonly"] == "yes"
            # rewrites at 5x, not Redis's 2x (redisconn.EMBEDDED_CONFIG)
            assert client.config_get("auto-aof-rewrite-percentage") == {
                "auto-aof-rewrite-percentage": "400"
            }
            client.set("k", "v")
        # A second user of the same folder finds the running server.
        with redisconn.redis_url(settings) as again:
            assert again == url
        assert running_url(tmp_path / "var") == url  # the inner user did not stop it
    assert running_url(tmp_path / "var") is None
    assert not (tmp_path / "var" / STATE_FILE).exists()
    # The AOF keeps the data for the next server on that folder.
    with sync_client(settings) as client:
        assert client.get("k") == b"v"


def test_stale_state_file_is_ignored(tmp_path: Path, redis_url: str) -> None:
    # A state file naming a server that serves another folder (or none) is not trusted.
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / STATE_FILE).write_text(json.dumps({"url": redis_url, "pid": 1}))
    assert running_url(tmp_path) is None
    (tmp_path / STATE_FILE).write_text("not json")
    assert running_url(tmp_path) is None
    with redisconn.redis_url(Settings(data_dir=str(tmp_path))) as url:
        assert url != redis_url


def test_keep_outlives_the_context_until_stopped(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    try:
        with sync_client(settings, keep=True) as client:
            client.set("kept", "1")
            assert client.config_get("auto-aof-rewrite-percentage") == {
                "auto-aof-rewrite-percentage": "400"
            }
            url = running_url(tmp_path)
        assert url is not None
        assert json.loads((tmp_path / STATE_FILE).read_text())["kept"] is True
        with sync_client(settings) as client:  # reuses the kept server, leaves it running
            assert client.get("kept") == b"1"
        assert running_url(tmp_path) == url
    finally:
        assert stop_embedded(tmp_path)
    assert running_url(tmp_path) is None
    assert not stop_embedded(tmp_path)


async def test_async_client(tmp_path: Path) -> None:
    async with async_client(Settings(data_dir=str(tmp_path))) as client:
        assert await client.ping()
    assert running_url(tmp_path) is None
