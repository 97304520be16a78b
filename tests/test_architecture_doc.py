"""docs/architecture.md stays true: its drawing is the import contract's order, every engine
package is in it (and nothing else), and every function it names on an answer's path exists."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text()


def _layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    engine = next(c for c in contracts if c.get("containers") == ["engine"])
    return [[name.strip() for name in layer.split("|")] for layer in engine["layers"]]


def _edges() -> set[tuple[str, str]]:
    drawing = DOC.split("```mermaid", 1)[1].split("```", 1)[0]
    return set(re.findall(r"^\s*(\w+) --> (\w+)\s*$", drawing, re.M))


def _subpackages() -> set[str]:
    return {p.parent.name for p in (ROOT / "engine").glob("*/__init__.py")}


def test_the_drawing_is_the_layers_contract() -> None:
    layers = _layers()
    expected = {
        (upper, lower)
        for above, below in zip(layers, layers[1:], strict=False)
        for upper in above
        for lower in below
    }
    assert _edges() == expected


def test_every_engine_package_is_drawn_and_described_and_exists() -> None:
    drawn = {name for edge in _edges() for name in edge}
    described = set(re.findall(r"^\| `engine\.(\w+)` \|", DOC, re.M))
    assert drawn == described == _subpackages()
    for name in drawn:
        importlib.import_module(f"engine.{name}")


def test_every_function_on_the_answer_paths_exists() -> None:
    paths = DOC.split("## The path of one answer", 1)[1]
    named = set(re.findall(r"`((?:engine|scoring|question_bank)\.[\w.]+)`", paths))
    assert len(named) >= 10
    for dotted in sorted(named):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)  # AttributeError: the doc names what is not there
            break
        else:
            raise AssertionError(f"{dotted}: no such module")
