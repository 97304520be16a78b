"""Member profiles as the scoring core stores them (``P:{C}:profiles``: member -> JSON).

The join token names the member, their display name, province and unit; the scoring core
keeps a copy per contest so that final standings and exports can show them without the
member app. The value is JSON ``{"name": ..., "province": ..., "unit": ...}``.
"""

from __future__ import annotations

import msgspec

from question_bank.ids import MemberId, ProvinceId, UnitId

from .errors import CorruptData
from .keys import ContestKeys
from .scripts import ScriptCall

__all__ = ["Profile", "decode_profile", "encode_profile", "join_call"]


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    """Who a member is, as far as standings go."""

    name: str = ""
    province: ProvinceId = ProvinceId("")
    """Empty if the member has none (then no province board)."""
    unit: UnitId = UnitId("")
    """Empty if the member has none (then no unit board)."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Profile)


def encode_profile(profile: Profile) -> bytes:
    return _encoder.encode(profile)


def join_call(keys: ContestKeys, member: MemberId, profile: Profile) -> ScriptCall:
    """The script call a gateway makes when *member* joins (``member_join.lua``): store
    their profile, read how many window attempts they have started (its reply, an int).
    A call for a batch (:class:`~scoring.batcher.AnswerBatcher`), so that a join shares a
    request to Redis with other members' answers."""
    return ScriptCall(
        "member_join",
        (keys.profiles, keys.attempt_counts),
        [member, encode_profile(profile)],
        repeats=False,
    )


def decode_profile(data: bytes | str) -> Profile:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise CorruptData(f"bad member profile {data!r}: {exc}") from exc
