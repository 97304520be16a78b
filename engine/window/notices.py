"""Expired window attempts: closed by the server's sweep and told to their members.

Notices are for some members only, so they are never broadcast: the scheduler publishes one
on the contest's notice channel (``GlobalKeys.notices``) whenever it expires attempts
(:func:`expire_attempts`), and every gateway's relay hands each decoded
:class:`AttemptsExpired` to the gateway, which finds the members concerned among its own
sockets and pushes each their attempt's ``expired`` state.
"""

from __future__ import annotations

import msgspec

from engine.runtime.redisconn import AsyncRedis, publish
from question_bank.ids import ContestId, MemberId
from scoring.attempts import Attempts
from scoring.keys import GlobalKeys

__all__ = ["AttemptsExpired", "decode_notice", "expire_attempts"]


class AttemptsExpired(msgspec.Struct, frozen=True):
    """Notice: the server expired these window attempts (member, attempt number)."""

    expired: list[tuple[MemberId, int]]


decode_notice = msgspec.json.Decoder(AttemptsExpired).decode
_encode_notice = msgspec.json.Encoder().encode


async def expire_attempts(client: AsyncRedis, contest: ContestId, prefix: str) -> int:
    """Close the contest's window attempts past their deadline (the sweep,
    :meth:`scoring.attempts.Attempts.close_due`) and publish the ones closed on the
    contest's notice channel, so their members' gateways tell them. Returns how many."""
    closed = await Attempts(client, contest, prefix=prefix).close_due()
    if closed:
        notice = _encode_notice(AttemptsExpired(expired=closed))
        await publish(client, GlobalKeys(prefix).notices(contest), notice)
    return len(closed)
