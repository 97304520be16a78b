"""Each member's draw in a window round, from what one contest and bank version share.

A :class:`MemberDraws` is kept per contest and pinned bank version: the pool, the checked
quotas and each question's option ids are computed once (``question_bank.draws.Drawer``);
a member's draw is then only their seeded walk of the pool and option shuffle, exactly the
draw ``question_bank.draws.draw`` makes from scratch (a dispute can be replayed).
"""

from __future__ import annotations

from engine.core.contest import Contest
from question_bank.draws import Drawer, draw_seed
from question_bank.ids import MemberId
from question_bank.models import Bank
from scoring.attempts import DrawnQuestion

__all__ = ["MemberDraws"]


class MemberDraws:
    """The draws of one contest's members from one bank version."""

    __slots__ = ("contest", "drawer")

    def __init__(self, contest: Contest, bank: Bank) -> None:
        self.contest = contest
        self.drawer = Drawer(bank, contest.draw)

    def draw(self, member: MemberId, number: int) -> list[DrawnQuestion]:
        """The member's questions for attempt *number*, with points and option order."""
        contest = self.contest
        seed = draw_seed(contest.id, contest.draw_seed_member(member), number)
        return [
            DrawnQuestion(id=q.id, points=q.points, options=options)
            for q, options in self.drawer.picks(seed)
        ]
