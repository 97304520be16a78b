"""What every contest mode is and shares: the two interfaces a mode implements
(:mod:`.base`: :class:`~.base.Members`, :class:`~.base.Runner`, :class:`~.base.ContestMode`)
and the standings every mode reads (:mod:`.standings`).

May import :mod:`engine.core`, :mod:`engine.runtime`, :mod:`engine.directory`, ``scoring``
and ``question_bank``. The modes themselves (:mod:`engine.live`, :mod:`engine.window`) sit
above it; :mod:`engine.contests.modes` lists them.
"""
