"""Connections that have not joined yet are capped per client address (the peer's, or the
one a trusted proxy forwards): one client holding many half-open sockets cannot keep
honest members out. Real gateway, real Redis, real sockets from 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

import pytest
import redis.asyncio
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus

from engine.core import messages as m
from engine.core.errors import CloseCode
from engine.core.limits import client_address
from engine.core.settings import trusted_networks
from tests.gateway_support import (
    client,
    create_contest,
    make_settings,
    recv,
    running_gateway,
    send,
    token,
)


@pytest.fixture
async def live(redis_client: redis.asyncio.Redis, key_prefix: str):
    return await create_contest(redis_client, key_prefix, "live")


async def refused_status(gw, contest: str, headers: dict[str, str] | None = None) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with client(gw, contest, headers=headers):
            pass
    return int(info.value.response.status_code)


async def test_unjoined_connections_per_address_are_capped_joined_ones_are_not(
    redis_url, key_prefix, live
):
    settings = make_settings(redis_url, key_prefix, max_unjoined_per_address=3)
    async with running_gateway(settings) as gw, contextlib.AsyncExitStack() as stack:
        idle = [await stack.enter_async_context(client(gw, live.id)) for _ in range(3)]
        assert await refused_status(gw, live.id) == 429
        # Joining frees the connection's place: it is a member now, not a half-open socket.
        await send(idle[0], m.Join(token=token(live.id, "a")))
        assert isinstance(await recv(idle[0]), m.Welcome)
        fourth = await stack.enter_async_context(client(gw, live.id))
        assert await refused_status(gw, live.id) == 429
        # A token in the URL joins at once; closing an unjoined socket frees its place too.
        await idle[1].close()
        async with client(gw, live.id, token(live.id, "b")) as member:
            assert isinstance(await recv(member), m.Welcome)
        await send(fourth, m.Ping(t=1))
        assert isinstance(await recv(fourth), m.Pong)  # the ones let in work as usual
        assert gw.unjoined.counts == {"127.0.0.1": 2}  # idle[2] and fourth
    assert gw.unjoined.counts == {}


async def test_forwarded_address_is_counted_only_behind_a_trusted_proxy(
    redis_url, key_prefix, live
):
    xff = {"X-Forwarded-For": "198.51.100.9, 203.0.113.5"}
    trusted = make_settings(
        redis_url, key_prefix, max_unjoined_per_address=2, trusted_proxies="127.0.0.1"
    )
    async with running_gateway(trusted) as gw, contextlib.AsyncExitStack() as stack:
        for _ in range(2):
            await stack.enter_async_context(client(gw, live.id, headers=xff))
        assert await refused_status(gw, live.id, xff) == 429
        # Another client behind the same proxy is counted on its own.
        forwarded = {"Forwarded": 'for="[2001:db8::7]:4711";proto=https'}
        for _ in range(2):
            await stack.enter_async_context(client(gw, live.id, headers=forwarded))
        assert await refused_status(gw, live.id, forwarded) == 429
        await stack.enter_async_context(client(gw, live.id))  # the proxy itself, unforwarded
        assert gw.unjoined.counts == {"203.0.113.5": 2, "2001:db8::7": 2, "127.0.0.1": 1}
    untrusted = make_settings(redis_url, key_prefix, max_unjoined_per_address=2)
    async with running_gateway(untrusted) as gw, contextlib.AsyncExitStack() as stack:
        # Not a trusted proxy: the header is the client's own word and is ignored.
        await stack.enter_async_context(client(gw, live.id, headers=xff))
        other = {"X-Forwarded-For": "192.0.2.1"}
        await stack.enter_async_context(client(gw, live.id, headers=other))
        assert await refused_status(gw, live.id, {"X-Forwarded-For": "192.0.2.2"}) == 429


async def test_zero_turns_the_cap_off(redis_url, key_prefix, live):
    settings = make_settings(redis_url, key_prefix, max_unjoined_per_address=0)
    async with running_gateway(settings) as gw, contextlib.AsyncExitStack() as stack:
        for _ in range(5):
            ws = await stack.enter_async_context(client(gw, live.id))
        await send(ws, m.Ping(t=1))
        assert isinstance(await recv(ws), m.Pong)


PROXIES = trusted_networks("10.0.0.0/8, 127.0.0.1, ::1")


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("192.0.2.1", {"X-Forwarded-For": "203.0.113.5"}, "192.0.2.1"),  # not a proxy
        ("10.1.2.3", {}, "10.1.2.3"),  # a proxy that forwards nothing
        ("10.1.2.3", {"X-Forwarded-For": "203.0.113.5"}, "203.0.113.5"),
        # The rightmost hop not a trusted proxy: what the client wrote on the left is skipped.
        ("10.1.2.3", {"X-Forwarded-For": "1.1.1.1, 203.0.113.5, 10.9.9.9"}, "203.0.113.5"),
        ("127.0.0.1", {"Forwarded": "for=192.0.2.60;proto=http, for=10.0.0.2"}, "192.0.2.60"),
        ("::1", {"Forwarded": 'For="[2001:db8:cafe::17]:4711"'}, "2001:db8:cafe::17"),
        ("::1", {"Forwarded": "for=203.0.113.9:80"}, "203.0.113.9"),
        # Forwarded wins over X-Forwarded-For (RFC 7239); an obfuscated hop is its own key.
        ("::1", {"Forwarded": "for=_hidden", "X-Forwarded-For": "192.0.2.5"}, "_hidden"),
        ("10.1.2.3", {"X-Forwarded-For": "10.0.0.1, 10.0.0.2"}, "10.0.0.1"),  # all proxies
        ("10.1.2.3", {"X-Forwarded-For": " , "}, "10.1.2.3"),
    ],
)
def test_client_address(peer: str, headers: dict[str, str], expected: str) -> None:
    assert client_address(peer, Headers(headers), PROXIES) == expected


def test_trusted_networks_parses_addresses_and_networks() -> None:
    assert trusted_networks("") == ()
    assert trusted_networks(" 10.0.0.0/8 ,::1") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1"),
    )
    with pytest.raises(ValueError, match="trusted_proxies"):
        trusted_networks("10.0.0.0/8, proxy.local")


async def test_a_burst_from_one_address_never_holds_more_than_the_cap(redis_url, key_prefix, live):
    settings = make_settings(redis_url, key_prefix, max_unjoined_per_address=5)
    async with running_gateway(settings) as gw, contextlib.AsyncExitStack() as stack:

        async def attempt() -> object:
            try:
                return await stack.enter_async_context(client(gw, live.id))
            except InvalidStatus as exc:
                return exc.response.status_code

        outcomes = await asyncio.gather(*(attempt() for _ in range(40)))
        opened = [ws for ws in outcomes if not isinstance(ws, int)]
        assert set(outcomes) - set(opened) == {429}
        # Any that passed the handshake past the cap (a race) were closed with 4006.
        for ws in opened:
            await send(ws, m.Ping(t=1))
        alive = []
        for ws in opened:
            try:
                alive.append(isinstance(await recv(ws), m.Pong))
            except ConnectionClosed:
                assert ws.close_code == CloseCode.ADDRESS_FULL
        assert alive == [True] * 5
        assert gw.unjoined.counts == {"127.0.0.1": 5}
