"""Every name a scoring module exports exists and is documented."""

import importlib

import pytest

MODULES = [
    "scoring.audit",
    "scoring.batcher",
    "scoring.durability",
    "scoring.errors",
    "scoring.leaderboard",
    "scoring.live",
    "scoring.outcomes",
    "scoring.replies",
    "scoring.scripts",
    "scoring.units",
    "scoring.window",
]


@pytest.mark.parametrize("name", MODULES)
def test_public_names(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__
    exported = module.__all__
    assert exported and len(set(exported)) == len(exported)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr}"


def test_error_tree() -> None:
    from scoring import errors

    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):
            assert issubclass(value, errors.ScoringError)
            assert name in (errors.__doc__ or ""), f"{name} missing from the drawn tree"
