"""Organisations and organiser API keys, in Redis.

An organisation is the central organiser or one province's organiser; every bank and
contest belongs to exactly one. Organisers call the HTTP API with an API key scoped to
their organisation (``Authorization: Bearer <key>``).

Keys (see :class:`scoring.keys.GlobalKeys`)::

    P:orgs      hash  organisation id -> msgpack-encoded Organisation
    P:apikeys   hash  sha256(api key) hex -> organisation id

Each organisation has an IANA time zone (:attr:`Organisation.zone`, default
``Asia/Ho_Chi_Minh``): the console, the CLI and its new campaigns show and read local times
in it. A zone that is not an IANA zone is refused (:class:`OrgInvalid`, ``org_invalid``) and
changes nothing.

An API key is random (``ce_`` + 43 URL-safe characters, 256 bits), shown once when created,
and never stored: only its SHA-256 is. Its *fingerprint* (the first 12 hex digits of that
hash) names it in listings and can revoke it without the key itself.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from redis.exceptions import WatchError

from engine.core.campaign import DEFAULT_ZONE, zone_of
from engine.core.errors import OrgExists, OrgInvalid, OrgNotFound
from engine.directory.banks import ID_PATTERN
from engine.runtime.redisconn import AsyncRedis
from question_bank.ids import OrgId, ProvinceId
from scoring.keys import DEFAULT_PREFIX, GlobalKeys

__all__ = [
    "CENTRAL",
    "KEY_PREFIX",
    "ApiKeyInfo",
    "OrgChange",
    "OrgKind",
    "OrgStore",
    "Organisation",
    "fingerprint",
    "check_org_id",
    "check_zone",
    "hash_key",
    "parse_api_keys",
]

CENTRAL = OrgId("central")
"""Id of the central organiser, created on demand by :meth:`OrgStore.bootstrap`."""
KEY_PREFIX = "ce_"
"""Every generated API key starts with this, so a leaked key is easy to grep for."""
_FINGERPRINT_LEN = 12

OrgKind = Literal["central", "province"]


class Organisation(msgspec.Struct, frozen=True, kw_only=True):
    id: OrgId
    name: str
    kind: OrgKind = "province"
    province: ProvinceId | None = None
    """The province a provincial organiser runs (``None`` for the central one)."""
    zone: str = DEFAULT_ZONE
    """The IANA time zone its local times are shown and read in."""


class OrgChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PATCH /api/org``: what an organisation may change of itself (absent: unchanged)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    zone: str | None = None
    """An IANA time zone (``Europe/Paris``)."""


class ApiKeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A stored key as listings show it: never the key itself."""

    fingerprint: str
    org: OrgId


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Organisation)


def _organisation(org_id: OrgId, raw: Any) -> Organisation:
    """The organisation stored as *raw* (a field of the organisations hash), or
    :class:`OrgNotFound` if there is none."""
    if raw is None:
        raise OrgNotFound(f"no organisation {org_id!r}")
    return _DECODER.decode(raw)


def hash_key(key: str) -> str:
    """SHA-256 hex digest of an API key: what the store keeps."""
    return hashlib.sha256(key.encode()).hexdigest()


def fingerprint(key: str) -> str:
    """Short public name of an API key (a prefix of its hash)."""
    return hash_key(key)[:_FINGERPRINT_LEN]


def parse_api_keys(spec: str) -> list[tuple[OrgId, str]]:
    """Parse ``Settings.api_keys`` (``org:key,org:key``); blanks ignored; ValueError if bad."""
    pairs: list[tuple[OrgId, str]] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        org, sep, key = item.partition(":")
        if not sep or not org.strip() or not key.strip():
            raise ValueError(f"api_keys entry {item!r} is not of the form org:key")
        check_org_id(org.strip())
        pairs.append((OrgId(org.strip()), key.strip()))
    return pairs


def check_org_id(org_id: str) -> None:
    """ValueError unless *org_id* is 1-64 letters, digits, ``_ . -`` (it is part of key names)."""
    if not ID_PATTERN.fullmatch(org_id):
        raise ValueError(
            f"organisation id {org_id!r} must be 1-64 letters, digits, '_', '.' or '-'"
            " and start with a letter or digit"
        )


def check_zone(zone: str) -> ZoneInfo:
    """The IANA zone *zone*; :class:`OrgInvalid` (field ``zone``) if there is none."""
    found = zone_of(zone)
    if found is None:
        raise OrgInvalid([{"field": "zone", "message": f"{zone!r} is not an IANA time zone"}])
    return found


class OrgStore:
    """Organisations and their API keys in one Redis, under key prefix *prefix*."""

    def __init__(self, redis_client: AsyncRedis, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis_client
        self.keys = GlobalKeys(prefix)

    # Organisations.

    async def create(self, org: Organisation) -> Organisation:
        """Register *org*; :class:`OrgExists` if its id is taken, ValueError if its id is
        malformed, :class:`OrgInvalid` if its zone is not an IANA zone."""
        check_org_id(org.id)
        check_zone(org.zone)
        added: int = await self.redis.hsetnx(self.keys.organisations, org.id, _ENCODER.encode(org))
        if not added:
            raise OrgExists(f"organisation {org.id!r} already exists")
        return org

    async def get(self, org_id: OrgId) -> Organisation:
        return _organisation(org_id, await self.redis.hget(self.keys.organisations, org_id))

    async def change(self, org_id: OrgId, change: OrgChange) -> Organisation:
        """Apply *change* to *org_id* (which must exist) and return the result; a bad zone
        is :class:`OrgInvalid` and changes nothing.

        The read, change and write-back run under WATCH of the organisations hash (one key,
        so also on Redis Cluster) and are retried if another write came between: two
        changes at once of different fields both land."""
        if change.zone is not None:
            check_zone(change.zone)
        key = self.keys.organisations
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    org = _organisation(org_id, await pipe.hget(key, org_id))
                    changed = msgspec.structs.replace(
                        org,
                        name=org.name if change.name is None else change.name,
                        zone=org.zone if change.zone is None else change.zone,
                    )
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, org_id, _ENCODER.encode(changed))
                    await pipe.execute()
                    return changed
                except WatchError:
                    continue

    async def zone(self, org_id: OrgId) -> ZoneInfo:
        """The time zone of *org_id*: its own, or the default for an unknown one."""
        try:
            org = await self.get(org_id)
        except OrgNotFound:
            return ZoneInfo(DEFAULT_ZONE)
        return zone_of(org.zone) or ZoneInfo(DEFAULT_ZONE)

    async def exists(self, org_id: OrgId) -> bool:
        found: int = await self.redis.hexists(self.keys.organisations, org_id)
        return bool(found)

    async def list(self) -> builtins.list[Organisation]:
        """Every organisation, sorted by id."""
        raw: Any = await self.redis.hgetall(self.keys.organisations)
        return sorted((_DECODER.decode(v) for v in raw.values()), key=lambda o: o.id)

    async def ensure(self, org_id: OrgId) -> Organisation:
        """The organisation *org_id*, registering it with defaults if it is new.

        ``central`` becomes the central organiser; any other id a province whose province
        id is the organisation id.
        """
        check_org_id(org_id)
        if org_id == CENTRAL:
            org = Organisation(id=org_id, name="Central organiser", kind="central")
        else:
            org = Organisation(id=org_id, name=org_id, province=ProvinceId(org_id))
        await self.redis.hsetnx(self.keys.organisations, org_id, _ENCODER.encode(org))
        return await self.get(org_id)

    # API keys.

    async def create_key(self, org_id: OrgId) -> str:
        """A new random API key for *org_id* (which must exist). Show it once: only its
        hash is stored."""
        await self.get(org_id)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        await self.redis.hset(self.keys.api_keys, hash_key(key), org_id)
        return key

    async def install_key(self, org_id: OrgId, key: str) -> None:
        """Accept a key chosen elsewhere (``Settings.api_keys``) for *org_id*."""
        if not key:
            raise ValueError("an API key cannot be empty")
        await self.redis.hset(self.keys.api_keys, hash_key(key), org_id)

    async def org_for_key(self, key: str) -> OrgId | None:
        """The organisation *key* belongs to, or ``None`` for an unknown or revoked key."""
        if not key:
            return None
        raw: Any = await self.redis.hget(self.keys.api_keys, hash_key(key))
        return None if raw is None else OrgId(raw.decode())

    async def keys_of(self, org_id: OrgId | None = None) -> builtins.list[ApiKeyInfo]:
        """Stored keys (fingerprints only), of one organisation or of all, sorted."""
        raw: Any = await self.redis.hgetall(self.keys.api_keys)
        infos = [
            ApiKeyInfo(fingerprint=h.decode()[:_FINGERPRINT_LEN], org=OrgId(o.decode()))
            for h, o in raw.items()
        ]
        return sorted(
            (i for i in infos if org_id is None or i.org == org_id),
            key=lambda i: (i.org, i.fingerprint),
        )

    async def revoke_key(self, key: str) -> bool:
        """Revoke *key*; True if it existed."""
        removed: int = await self.redis.hdel(self.keys.api_keys, hash_key(key))
        return removed > 0

    async def revoke_fingerprint(self, prefix: str) -> int:
        """Revoke every key whose hash starts with *prefix* (at least 8 hex digits).

        Returns how many were revoked (0 or 1 in practice).
        """
        prefix = prefix.lower()
        if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
            raise ValueError("a key fingerprint is at least 8 hexadecimal digits")
        raw: Any = await self.redis.hkeys(self.keys.api_keys)
        hashes = [h for h in raw if h.decode().startswith(prefix)]
        if not hashes:
            return 0
        removed: int = await self.redis.hdel(self.keys.api_keys, *hashes)
        return removed

    async def revoke_all(self, org_id: OrgId) -> int:
        """Revoke every key of *org_id*; return how many."""
        raw: Any = await self.redis.hgetall(self.keys.api_keys)
        hashes = [h for h, o in raw.items() if o.decode() == org_id]
        if not hashes:
            return 0
        removed: int = await self.redis.hdel(self.keys.api_keys, *hashes)
        return removed

    async def bootstrap(self, api_keys: str) -> builtins.list[OrgId]:
        """Install the keys of ``Settings.api_keys`` (``org:key,...``), registering each
        organisation that does not exist yet (see :meth:`ensure`). Returns the org ids."""
        orgs: builtins.list[OrgId] = []
        for org_id, key in parse_api_keys(api_keys):
            await self.ensure(org_id)
            await self.install_key(org_id, key)
            orgs.append(org_id)
        return orgs
