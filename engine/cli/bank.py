"""``contest bank``: validate, convert, import, export, list and show question banks.

::

    contest bank validate FILE... [--format F] [--strict]
    contest bank convert FILE --to FORMAT [-o OUT] [--format F] [--id ID] [--title T] [--strict]
    contest bank import FILE [--org ORG] [--id ID] [--title T] [--format F] [--strict]
    contest bank export BANK --format FORMAT [--org ORG] [--version N] [-o OUT]
    contest bank list [--org ORG]
    contest bank show BANK|FILE [--org ORG] [--version N]
    contest bank template --format csv|xlsx [-o OUT]

``validate`` and ``convert`` work on files only (no Redis). The others use the engine's
Redis (``--redis-url``, or the embedded server of ``--data-dir``). ``--org`` defaults to
``central``; ``import`` of an id that exists stores a new version. The input format is
taken from the file's extension unless ``--format`` names it (a ``.txt`` file is GIFT, or
Aiken when it has ``ANSWER: X`` lines and no ``{``); for formats that cannot name
the bank (GIFT, Aiken, CSV) the id and title default to the file name (the id without
diacritics or spaces: ``question_bank.text.id_from_name``); ``--id`` wins over
an id inside the file.

Problems print one per line as ``file:line, question Q, field F: message [code]`` (the
most precise location known) and the command exits 1; warnings of what a target format
cannot express go to stderr. Questions the engine cannot run (a Moodle essay or matching
question, a CSV row of kind ``essay``) are left out, each printed as a ``warning:`` line
on stderr with its line, and the command goes on (exit 0); ``--strict`` refuses the file
instead, as a problem. ``template`` writes a bank file to start from (Vietnamese headers,
two example rows) as CSV or Excel (``.xlsx``); ``.xlsx`` files are read directly.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from engine.cli._common import add_redis_options, fail, print_table, run_with_redis
from engine.core.settings import Settings
from engine.directory.banks import BankStore, check_bank_id
from engine.directory.orgs import CENTRAL, OrgStore
from engine.runtime.redisconn import AsyncRedis
from question_bank.errors import BankInvalid, Problem, QuestionBankError
from question_bank.formats import FORMATS, INPUT_FORMATS, dumps, load_bank_file
from question_bank.formats.xlsx import template
from question_bank.ids import BankId, OrgId
from question_bank.models import DIFFICULTIES, Bank

__all__ = ["input_format", "register", "show_tables"]


def register(subparsers: Any) -> None:
    bank = subparsers.add_parser("bank", help="question banks: validate, convert, import, ...")
    commands = bank.add_subparsers(dest="bank_command", required=True, metavar="COMMAND")

    p = commands.add_parser("validate", help="check bank files; list every problem")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=INPUT_FORMATS, help="input format (default: extension)")
    _add_strict(p)
    p.set_defaults(func=cmd_validate)

    p = commands.add_parser("convert", help="convert a bank file to another format")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--to", required=True, choices=FORMATS, help="output format")
    p.add_argument("-o", "--output", help="output file (default: standard output)")
    _add_input_options(p)
    p.set_defaults(func=cmd_convert)

    p = commands.add_parser("import", help="store a bank file in Redis (a new version)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--org", default=CENTRAL, help="owning organisation (default: central)")
    _add_input_options(p)
    add_redis_options(p)
    p.set_defaults(func=cmd_import)

    p = commands.add_parser("export", help="write a stored bank in a format")
    p.add_argument("bank", metavar="BANK")
    p.add_argument("--format", required=True, choices=FORMATS, help="output format")
    p.add_argument("--org", default=CENTRAL)
    p.add_argument("--version", type=int, help="stored version (default: latest)")
    p.add_argument("-o", "--output", help="output file (default: standard output)")
    add_redis_options(p)
    p.set_defaults(func=cmd_export)

    p = commands.add_parser("list", help="list an organisation's banks")
    p.add_argument("--org", default=CENTRAL)
    add_redis_options(p)
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("show", help="counts by kind, topic and difficulty")
    p.add_argument("bank", metavar="BANK|FILE", help="a stored bank id, or a bank file")
    p.add_argument("--org", default=CENTRAL)
    p.add_argument("--version", type=int, help="stored version (default: latest)")
    p.add_argument("--format", choices=INPUT_FORMATS, help="format of FILE (default: extension)")
    _add_strict(p)
    add_redis_options(p)
    p.set_defaults(func=cmd_show)

    p = commands.add_parser("template", help="a bank file to start from (csv or xlsx)")
    p.add_argument("--format", required=True, choices=("csv", "xlsx"))
    p.add_argument("-o", "--output", help="output file (default: bank-template.FORMAT)")
    p.set_defaults(func=cmd_template)


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=INPUT_FORMATS, help="input format (default: extension)")
    p.add_argument("--id", help="bank id (default: the file's, else the file name)")
    p.add_argument("--title", help="bank title for formats without one (default: the id)")
    _add_strict(p)


def _add_strict(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a file with questions the engine cannot run (default: leave them out)",
    )


def _read(path: str, args: argparse.Namespace, **kwargs: str) -> Bank:
    """The bank of *path*; each question left out printed as a warning on stderr."""
    fmt = input_format(path, getattr(args, "format", None))
    loaded = load_bank_file(path, fmt, strict=args.strict, **kwargs)
    _warn(loaded.warnings, path)
    return loaded.bank


def _warn(warnings: list[Problem], path: str | None = None) -> None:
    for warning in warnings:
        # Every problem names its file; add it where a reader could not.
        where = "" if path is None or warning.where.file else f"{path}: "
        print(f"warning: {where}{warning}", file=sys.stderr)


def _load(args: argparse.Namespace, path: str) -> Bank:
    kwargs = {k: v for k, v in (("bank_id", args.id), ("title", args.title)) if v}
    bank = _read(path, args, **kwargs)
    if args.id and bank.id != args.id:  # --id wins over an id inside the file
        check_bank_id(args.id)
        bank = msgspec.structs.replace(bank, id=BankId(args.id))
    return bank


_AIKEN_ANSWER = re.compile(r"^\s*ANSWER\s*:\s*[A-Za-z]\s*$", re.MULTILINE)


def input_format(path: str, given: str | None) -> str | None:
    """The format to read *path* in: *given*, else ``None`` (from the extension), except that
    a ``.txt`` file -- Moodle's extension for both GIFT and Aiken -- with ``ANSWER: X`` lines
    and no ``{`` is read as Aiken."""
    if given or Path(path).suffix.lower() != ".txt":
        return given
    try:
        head = Path(path).read_bytes()[:65536].decode("utf-8", errors="replace")
    except OSError:
        return None  # load_file reports it
    return "aiken" if _AIKEN_ANSWER.search(head) and "{" not in head else None


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def cmd_validate(args: argparse.Namespace) -> int:
    bad = 0
    for path in args.files:
        try:
            bank = _read(path, args)
        except (QuestionBankError, OSError) as exc:
            bad += 1
            if isinstance(exc, OSError):
                print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            elif isinstance(exc, BankInvalid):
                for problem in exc.problems:
                    # Every problem names its file; add it where a reader could not.
                    print(problem if problem.where.file else f"{path}: {problem}")
            else:
                print(f"{path}: {exc}")
            continue
        print(f"{path}: ok, {len(bank.questions)} question(s)")
    if bad:
        print(f"{bad} of {len(args.files)} file(s) have problems", file=sys.stderr)
    return 1 if bad else 0


def cmd_convert(args: argparse.Namespace) -> int:
    try:
        bank = _load(args, args.file)
        written = dumps(bank, args.to)
        _write(written.text, args.output)
    except (QuestionBankError, OSError) as exc:
        return fail(exc)
    _warn(written.warnings)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    try:
        bank = _load(args, args.file)
    except (QuestionBankError, OSError) as exc:
        return fail(exc)

    async def body(client: AsyncRedis, settings: Settings) -> int:
        org = OrgId(args.org)
        orgs = OrgStore(client, settings.key_prefix)
        if org == CENTRAL:
            await orgs.ensure(org)
        else:
            await orgs.get(org)  # OrgNotFound: create it with `contest org create`
        version = await BankStore(client, settings.key_prefix).put(org, bank)
        print(f"imported {bank.id} version {version} ({len(bank.questions)} questions) for {org}")
        return 0

    return run_with_redis(args, body)


def cmd_export(args: argparse.Namespace) -> int:
    async def body(client: AsyncRedis, settings: Settings) -> int:
        store = BankStore(client, settings.key_prefix)
        bank = await store.get(OrgId(args.org), BankId(args.bank), args.version)
        written = dumps(bank, args.format)
        _write(written.text, args.output)
        _warn(written.warnings)
        return 0

    return run_with_redis(args, body)


def cmd_list(args: argparse.Namespace) -> int:
    async def body(client: AsyncRedis, settings: Settings) -> int:
        banks = await BankStore(client, settings.key_prefix).list(OrgId(args.org))
        if not banks:
            print(f"no banks in organisation {args.org}")
            return 0
        rows = [(b.id, b.version, b.questions, b.language, b.title) for b in banks]
        print_table(("id", "version", "questions", "language", "title"), rows)
        return 0

    return run_with_redis(args, body)


def show_tables(bank: Bank) -> None:
    """Print a bank's headline and its counts by kind, topic and difficulty."""
    print(f"{bank.id} version {bank.version}: {bank.title} ({bank.language})")
    print(f"{len(bank.questions)} question(s)\n")
    kinds = Counter(str(type(q).__struct_config__.tag) for q in bank.questions)
    topics = Counter(str(q.topic or "(none)") for q in bank.questions)
    names: dict[str, str] = {t.id: t.name for t in bank.topics}
    difficulties = Counter(str(q.difficulty) for q in bank.questions)
    print_table(("kind", "questions"), sorted(kinds.items()))
    print()
    rows = [(t, names.get(t, ""), n) for t, n in sorted(topics.items())]
    print_table(("topic", "name", "questions"), rows)
    print()
    print_table(
        ("difficulty", "questions"),
        [(d, difficulties[d]) for d in DIFFICULTIES if d in difficulties],
    )


def cmd_show(args: argparse.Namespace) -> int:
    if Path(args.bank).is_file():
        try:
            show_tables(_read(args.bank, args))
        except (QuestionBankError, OSError) as exc:
            return fail(exc)
        return 0

    async def body(client: AsyncRedis, settings: Settings) -> int:
        store = BankStore(client, settings.key_prefix)
        show_tables(await store.get(OrgId(args.org), BankId(args.bank), args.version))
        return 0

    return run_with_redis(args, body)


def cmd_template(args: argparse.Namespace) -> int:
    output = args.output or f"bank-template.{args.format}"
    try:
        Path(output).write_bytes(template(args.format))
    except OSError as exc:
        return fail(exc)
    print(f"wrote {output}")
    return 0
