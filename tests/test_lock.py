"""requirements.lock keeps step with pyproject.toml: every requirement the project declares
(dependencies, the test and load extras, the build tools) is pinned there, at a version its
specifier allows. A dependency added to pyproject.toml without `make lock` fails here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, list[str]]:
    pins: dict[str, list[str]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)", line)
        if found:
            pins.setdefault(canonicalize_name(found.group(1)), []).append(found.group(2))
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in ("test", "load"):
        lines += project["optional-dependencies"][extra]
    for line in (ROOT / "requirements-build.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return [Requirement(line) for line in lines]


def test_every_declared_requirement_is_pinned_at_an_allowed_version() -> None:
    pins = _pins()
    missing = []
    for requirement in _declared():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        versions = pins.get(canonicalize_name(requirement.name), [])
        if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
            missing.append(f"{requirement} (lock has {versions or 'nothing'})")
    assert missing == [], "run `make lock`: " + "; ".join(missing)
