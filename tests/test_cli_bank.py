"""``contest bank|org|key|units``: in-process through ``main([...])``, and as real processes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from engine.cli import main
from engine.cli.bank import input_format
from engine.directory.orgs import hash_key
from question_bank.errors import BankInvalid
from question_bank.formats import FORMATS, dumps, load_file
from tests.test_bank_store import make_bank
from tests.utils import timeout

DATA = Path(__file__).parent / "data" / "banks"
FOREIGN_FILES = sorted(
    p for p in DATA.glob("*") if p.is_file() and p.suffix.lower() in {".gift", ".txt", ".csv"}
)
HAS = {
    name: importlib.util.find_spec(f"question_bank.formats.{name}") is not None for name in FORMATS
}
CONTEST = Path(sys.executable).parent / "contest"


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "geo.yaml"
    path.write_text(dumps(make_bank(), "yaml").text, encoding="utf-8")
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    text = dumps(make_bank(), "yaml").text.replace("weight: 1.0", "weight: 0.0")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def redis_args(redis_url: str, key_prefix: str) -> list[str]:
    return ["--redis-url", redis_url, "--key-prefix", key_prefix]


# validate / convert: files only.


def test_validate_ok_and_problems(
    good: Path, bad: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bank", "validate", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: ok, 3 question(s)\n"
    missing = tmp_path / "missing.yaml"
    assert main(["bank", "validate", str(good), str(bad), str(missing)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{good}: ok, 3 question(s)",
        f"{bad}:4, question q0, field options: no option has weight 1.0 (100 %)"
        " [no_correct_option]",
        f"{bad}:13, question q1, field options: no option has weight 1.0 (100 %)"
        " [no_correct_option]",
    ]
    assert err.splitlines() == [
        f"{missing}: cannot read: No such file or directory",
        "2 of 3 file(s) have problems",
    ]


@pytest.mark.skipif(not all(HAS.values()), reason="not every format is in this tree yet")
def test_validate_unknown_extension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bank.docx"
    path.write_text("x")
    assert main(["bank", "validate", str(path)]) == 1
    assert "cannot tell the format" in capsys.readouterr().out


@pytest.mark.parametrize("path", FOREIGN_FILES, ids=[p.name for p in FOREIGN_FILES])
def test_validate_files_written_by_other_tools(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not all(HAS.values()):  # detect_format asks every format module
        pytest.skip("not every format is in this tree yet")
    try:
        bank = load_file(path, input_format(str(path), None))
    except BankInvalid as exc:
        expected = [str(p) if p.where.file else f"{path}: {p}" for p in exc.problems]
        assert main(["bank", "validate", "--strict", str(path)]) == 1
        assert capsys.readouterr().out.splitlines() == expected
    else:
        assert main(["bank", "validate", "--strict", str(path)]) == 0
        assert capsys.readouterr().out == f"{path}: ok, {len(bank.questions)} question(s)\n"


def test_convert_to_file_and_stdout(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "geo.json"
    assert main(["bank", "convert", str(good), "--to", "json", "-o", str(out)]) == 0
    assert load_file(out) == make_bank()
    assert main(["bank", "convert", str(good), "--to", "yaml", "--id", "renamed"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("id: renamed\n")


def test_convert_refuses_bad_input(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bank", "convert", str(bad), "--to", "json"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: 2 problem(s):"
    assert err[1].startswith(f"  {bad}:4, question q0")


@pytest.mark.skipif(not HAS["aiken"], reason="the Aiken format is not in this tree yet")
def test_convert_warns_what_target_cannot_express(
    good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Aiken has single choice only: the true/false question is reported, not silently lost.
    assert main(["bank", "convert", str(good), "--to", "aiken"]) == 0
    out, err = capsys.readouterr()
    assert "Câu hỏi 0?" in out
    assert any(line.startswith("warning: ") and "tf" in line for line in err.splitlines())


# Commands on Redis.


def test_import_list_show_export(
    good: Path, redis_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bank", "import", str(good), *redis_args]) == 0
    assert capsys.readouterr().out == "imported geo version 1 (3 questions) for central\n"
    assert main(["bank", "import", str(good), "--id", "geo", *redis_args]) == 0
    assert "version 2" in capsys.readouterr().out
    assert main(["bank", "list", *redis_args]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "version", "questions", "language", "title"]
    assert lines[2].split() == ["geo", "2", "3", "vi", "Địa", "lý"]
    assert main(["bank", "show", "geo", *redis_args]) == 0
    out = capsys.readouterr().out
    assert out.startswith("geo version 2: Địa lý (vi)\n3 question(s)\n")
    table = [line.split() for line in out.splitlines()]
    assert ["single", "2"] in table and ["true_false", "1"] in table
    assert ["(none)", "3"] in table and ["medium", "3"] in table
    exported = tmp_path / "out.json"
    args = ["bank", "export", "geo", "--format", "json", "--version", "1", "-o", str(exported)]
    assert main([*args, *redis_args]) == 0
    assert load_file(exported) == make_bank()


def test_show_a_file(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bank", "show", str(good)]) == 0
    assert capsys.readouterr().out.startswith("geo version 1: Địa lý (vi)\n")


def test_redis_command_errors(
    good: Path, bad: Path, redis_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bank", "import", str(bad), *redis_args]) == 1
    assert capsys.readouterr().err.startswith("error: 2 problem(s):\n")
    assert main(["bank", "import", str(good), "--org", "nowhere", *redis_args]) == 1
    assert capsys.readouterr().err == "error: no organisation 'nowhere'\n"
    assert main(["bank", "export", "nope", "--format", "yaml", *redis_args]) == 1
    assert capsys.readouterr().err == "error: no bank 'nope' in organisation 'central'\n"
    assert main(["bank", "list", "--org", "hue", *redis_args]) == 0
    assert capsys.readouterr().out == "no banks in organisation hue\n"


def test_orgs_and_keys(
    good: Path,
    redis_args: list[str],
    redis_sync: redis.Redis,
    key_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["org", "create", "hue", "--name", "Thừa Thiên Huế", *redis_args]) == 0
    assert main(["org", "create", "tw", "--name", "Trung ương", "--central", *redis_args]) == 0
    capsys.readouterr()
    assert main(["org", "create", "hue", "--name", "again", *redis_args]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["org", "list", *redis_args]) == 0
    table = [line.split()[:3] for line in capsys.readouterr().out.splitlines()]
    assert ["hue", "province", "hue"] in table and table[-1][:2] == ["tw", "central"]

    assert main(["key", "create", "hue", *redis_args]) == 0
    key = capsys.readouterr().out.strip()
    assert redis_sync.hget(f"{key_prefix}:apikeys", hash_key(key)) == b"hue"
    assert main(["key", "create", "nowhere", *redis_args]) == 1
    capsys.readouterr()
    assert main(["key", "list", "--org", "hue", *redis_args]) == 0
    assert hash_key(key)[:12] in capsys.readouterr().out
    assert main(["key", "revoke", *redis_args]) == 1
    assert "exactly one" in capsys.readouterr().err
    assert main(["key", "revoke", key, *redis_args]) == 0
    assert redis_sync.hlen(f"{key_prefix}:apikeys") == 0
    assert main(["key", "revoke", key, *redis_args]) == 1
    assert "no such key" in capsys.readouterr().err

    assert main(["key", "create", "hue", *redis_args]) == 0
    second = capsys.readouterr().out.strip()
    assert main(["key", "revoke", "--fingerprint", hash_key(second)[:10], *redis_args]) == 0
    assert main(["key", "create", "hue", *redis_args]) == 0
    assert main(["key", "revoke", "--org", "hue", "--all", *redis_args]) == 0
    assert redis_sync.hlen(f"{key_prefix}:apikeys") == 0
    # A bank imported for a province organisation.
    assert main(["bank", "import", str(good), "--org", "hue", *redis_args]) == 0
    assert redis_sync.hget(f"{key_prefix}:banks:hue", "geo") == b"1"


def test_units_import(
    tmp_path: Path, redis_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "units.csv"
    path.write_text("id,name,province,members\nhn-1,Ba Đình,hanoi,120\nhue-1,Huế 1,hue,30\n")
    assert main(["units", "import", str(path), *redis_args]) == 0
    assert capsys.readouterr().out == "imported 2 unit(s), 150 registered member(s)\n"
    assert main(["units", "list", *redis_args]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows == [["hn-1", "hanoi", "120", "Ba", "Đình"], ["hue-1", "hue", "30", "Huế", "1"]]
    path.write_text("id,name,province,members\nx,,p,-3\n")
    assert main(["units", "import", str(path), *redis_args]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: 2 problem(s):",
        f"  {path}:2: empty name",
        f"  {path}:2: members '-3' is not a whole number >= 0",
    ]


def test_units_import_refuses_digits_that_are_not_ascii_with_their_line(
    tmp_path: Path,
    redis_args: list[str],
    redis_sync: redis.Redis,
    key_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # "²".isdigit() is True and int("²") raises: the import crashed with a traceback.
    path = tmp_path / "units.csv"
    path.write_text("id,name,province,members\nhn-1,Ba Đình,hanoi,²\nhn-2,B,hanoi,١٢\n")
    assert main(["units", "import", str(path), *redis_args]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: 2 problem(s):",
        f"  {path}:2: members '²' is not a whole number >= 0",
        f"  {path}:3: members '١٢' is not a whole number >= 0",
    ]
    assert redis_sync.hlen(f"{key_prefix}:units") == 0


# Real processes, with the embedded redis-server of a data folder.


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONTEST), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout(60),
        check=False,
    )


def test_as_processes_with_embedded_redis(good: Path, bad: Path, tmp_path: Path) -> None:
    data = tmp_path / "var"
    result = run("bank", "validate", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{bad}:4, question q0")
    imported = run("bank", "import", str(good), "--data-dir", str(data), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    # The first process stopped its redis-server; the next one finds the data in the AOF.
    assert not (data / "redis.json").exists()
    listed = run("bank", "list", "--data-dir", "var", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[2].split()[:3] == ["geo", "1", "3"]


@pytest.mark.skipif(not HAS["gift"], reason="the GIFT format is not in this tree yet")
def test_convert_gift_from_moodle_to_yaml_keeps_the_bank(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = DATA / "moodle-export.gift"
    if not source.exists():
        pytest.skip("tests/data/banks/moodle-export.gift is not in this tree yet")
    out = tmp_path / "moodle.yaml"
    args = ["bank", "convert", str(source), "--format", "gift", "--to", "yaml", "-o", str(out)]
    assert main([*args, "--id", "moodle", "--title", "Moodle"]) == 0
    converted = load_file(out)
    original = load_file(source, "gift", bank_id="moodle", title="Moodle")
    assert converted == original
    assert converted.id == "moodle" and converted.questions


def test_txt_files_are_gift_or_aiken_by_content(tmp_path: Path) -> None:
    aiken = tmp_path / "a.txt"
    aiken.write_text("Thủ đô?\nA. Hà Nội\nB. Huế\nANSWER: A\n", encoding="utf-8")
    gift = tmp_path / "g.txt"
    gift.write_text("Thủ đô? {=Hà Nội ~Huế}\n// ANSWER: A\n", encoding="utf-8")
    assert input_format(str(aiken), None) == "aiken"
    assert input_format(str(gift), None) is None  # the extension's format: GIFT
    assert input_format(str(aiken), "gift") == "gift"
    assert input_format(str(tmp_path / "x.yaml"), None) is None
    assert input_format(str(tmp_path / "missing.txt"), None) is None
    assert main(["bank", "validate", str(aiken), str(gift)]) == 0


# Files with questions the engine cannot run; spreadsheets; the template.

MOODLE = """::cap::Thủ đô của Việt Nam là? {=Hà Nội ~Huế ~Đà Nẵng}

::essay::Hãy kể về quê hương em. {}

::match::Ghép tỉnh với miền. {=Hà Nội -> Bắc =Huế -> Trung}
"""


def test_moodle_export_with_essay_converts_and_imports_with_warnings(
    tmp_path: Path, redis_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Lịch sử lớp 9.gift"
    path.write_text(MOODLE)
    out = tmp_path / "out.yaml"
    assert main(["bank", "convert", str(path), "--to", "yaml", "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"warning: {path}:3, question essay: left out: an essay question ({{}})"
        " [unsupported_question]",
        f"warning: {path}:5, question match: left out: a matching question (=a -> b)"
        " [unsupported_question]",
    ]
    assert [q.id for q in load_file(out).questions] == ["cap"]
    assert main(["bank", "convert", str(path), "--to", "yaml", "--strict"]) == 1
    assert "unsupported_question" in capsys.readouterr().err
    assert main(["bank", "import", str(path), *redis_args]) == 0
    captured = capsys.readouterr()
    assert captured.out == "imported lich-su-lop-9 version 1 (1 questions) for central\n"
    assert captured.err.count("warning: ") == 2
    assert main(["bank", "import", str(path), "--strict", *redis_args]) == 1


def test_template_and_xlsx_import(
    tmp_path: Path, redis_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"Ngân hàng.{fmt}"
        assert main(["bank", "template", "--format", fmt, "-o", str(out)]) == 0
        assert capsys.readouterr().out == f"wrote {out}\n"
        assert main(["bank", "validate", str(out)]) == 0
        assert capsys.readouterr().out == f"{out}: ok, 2 question(s)\n"
    assert main(["bank", "import", str(tmp_path / "Ngân hàng.xlsx"), *redis_args]) == 0
    assert capsys.readouterr().out == "imported ngan-hang version 1 (2 questions) for central\n"
