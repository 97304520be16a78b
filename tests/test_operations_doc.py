"""docs/operations.md documents every setting and every metric the engine has."""

import re
from pathlib import Path

from engine.core.settings import ENV_PREFIX, Settings
from engine.runtime import metrics

DOC = (Path(__file__).parent.parent / "docs" / "operations.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_with_its_variable() -> None:
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| `(\w+)` \|", DOC, re.M)}
    for name in Settings.__struct_fields__:
        assert rows.get(name) == ENV_PREFIX + name.upper(), name
    assert set(rows) <= set(Settings.__struct_fields__)


def test_every_metric_is_documented() -> None:
    names = {
        obj._name  # type: ignore[attr-defined]
        for obj in vars(metrics).values()
        if hasattr(obj, "_name") and hasattr(obj, "_type")
    }
    assert names
    for name in names:
        assert f"`{name}" in DOC, name
