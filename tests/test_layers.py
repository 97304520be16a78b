"""The layering contract of DESIGN.md, checked with import-linter on every test run.

question_bank imports none of the others; scoring may import question_bank but never
engine; engine imports both; loadtest reaches the engine only through engine.core.messages.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_loadtest_imports_only_the_wire_types_of_the_engine() -> None:
    offenders = []
    for path in (ROOT / "loadtest").glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("from engine", "import engine")) and (
                stripped
                not in ("from engine.core import messages as m", "import engine.core.messages")
                and not stripped.startswith("from engine.core.messages import")
            ):
                offenders.append(f"{path.name}:{number}: {stripped}")
            if stripped.startswith(("from scoring", "import scoring", "from question_bank")):
                offenders.append(f"{path.name}:{number}: {stripped}")
    assert offenders == []
