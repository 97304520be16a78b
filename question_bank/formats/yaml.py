"""Native YAML format: a :class:`~question_bank.models.Bank` as YAML, exact round trip.

Writing gives ``msgspec.to_builtins(bank)`` minus the fields left at their default (see
:func:`._native.to_document`), keys in a stable order, multi-line texts as ``|`` blocks.

Reading composes the YAML node tree (PyYAML, YAML 1.1, safe tags only), so every question
and every field keeps its line; decode errors become problems located by that line, and
never exceptions. Two conveniences for files typed by hand:

* a plain scalar under a text key (``text``, ``id``, ``title``, ``name``, ``explanation``,
  ``feedback*``, ``topic``, ...) is read as the string it was written as: ``text: 1945``
  is the text ``"1945"``, ``text: yes`` is ``"yes"``, ``id: 007`` is ``"007"``;
* strings stand for numbers and booleans where a number is expected (``value: 1e3``,
  which YAML 1.1 reads as a string, is 1000.0).

A document that repeats a key in one mapping, or whose aliases expand past
:data:`MAX_NODES`, is refused with a located problem.
"""

from __future__ import annotations

import yaml

from ..errors import Location, Problem
from ..ids import BankId
from ..models import Bank
from . import Parsed, Written
from ._native import Path, decode_bank, nfc_deep, to_document

__all__ = ["EXTENSIONS", "MAX_NODES", "NAME", "read", "write"]

NAME = "yaml"
EXTENSIONS: tuple[str, ...] = (".yaml", ".yml")

MAX_NODES = 2_000_000
"""Most nodes a document may expand to through aliases (a "billion laughs" guard)."""

_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_MAX_DIGITS = 1000
"""An int scalar longer than this is read as a string (Python refuses to convert more than
4300 digits), so decoding reports it, located, as out of range."""
_RETAGGED = frozenset(
    {
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:timestamp",
    }
)
_TEXT_KEYS = frozenset(
    {
        "id",
        "text",
        "title",
        "name",
        "language",
        "explanation",
        "feedback",
        "feedback_true",
        "feedback_false",
        "topic",
        "media_url",
    }
)

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Safe dumper writing multi-line strings as literal ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar(_STR_TAG, data, style=style)


_Dumper.add_representer(str, _represent_str)


def write(bank: Bank) -> Written:
    """*bank* as YAML; nothing is lost, so there are no warnings."""
    text = yaml.dump(
        to_document(bank),
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=100,
    )
    return Written(text=text)


def read(text: str, *, source: str, bank_id: BankId, title: str) -> Parsed:
    """Parse a YAML bank; every problem located by line, never an exception."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            problems = _check_nodes(root, source) if root is not None else []
            if any(problem.code == "too_complex" for problem in problems):
                return Parsed(bank=Bank(id=bank_id, title=title), problems=problems)
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return _failed(bank_id, title, source, "syntax_error", message or str(exc), line)
    except RecursionError:
        return _failed(bank_id, title, source, "too_complex", "the document nests too deep")
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        # e.g. ValueError from a timestamp such as 2024-13-45
        return _failed(bank_id, title, source, "syntax_error", f"cannot read the YAML: {exc}")

    def locate(path: Path) -> int | None:
        node = _node_at(root, path)
        return None if node is None else node.start_mark.line + 1

    return decode_bank(
        nfc_deep(data),
        source=source,
        bank_id=bank_id,
        title=title,
        locate=locate,
        strict=False,
        problems=problems,
    )


def _failed(
    bank_id: BankId, title: str, source: str, code: str, message: str, line: int | None = None
) -> Parsed:
    problem = Problem(code=code, message=message, where=Location(file=source, line=line))
    return Parsed(bank=Bank(id=bank_id, title=title), problems=[problem])


def _check_nodes(root: yaml.Node, source: str) -> list[Problem]:
    """Guard against alias bombs, find repeated keys, and retag plain text scalars as str.

    Walks each distinct node once (aliases share node objects) and sums the size each
    node expands to, which is what constructing the document will cost.
    """
    problems: list[Problem] = []
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being walked: seeing one is a cycle
    # iterative post-order walk: (node, children done?)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        if done:
            open_.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_:
            message = "an alias refers to a node that contains it (a recursive structure)"
            line = node.start_mark.line + 1
            where = Location(file=source, line=line)
            return [*problems, Problem(code="too_complex", message=message, where=where)]
        open_.add(id(node))
        if isinstance(node, yaml.ScalarNode) and node.tag == _INT_TAG:
            if len(node.value) > _MAX_DIGITS:
                node.tag = _STR_TAG
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
        if isinstance(node, yaml.MappingNode):
            problems += _mapping_problems(node, source)
    if sizes.get(id(root), 0) > MAX_NODES:
        message = f"the document expands to more than {MAX_NODES} nodes (aliases)"
        line = root.start_mark.line + 1
        problems.append(
            Problem(code="too_complex", message=message, where=Location(file=source, line=line))
        )
    return problems


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _mapping_problems(node: yaml.MappingNode, source: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        if key.value in seen:
            problems.append(
                Problem(
                    code="duplicate_key",
                    message=f"key {key.value!r} appears more than once in this mapping",
                    where=Location(file=source, line=key.start_mark.line + 1, field=key.value),
                )
            )
        seen.add(key.value)
        if (
            key.value in _TEXT_KEYS
            and isinstance(value, yaml.ScalarNode)
            and not value.style  # plain (None in PyYAML, "" in libyaml)
            and value.tag in _RETAGGED
        ):
            value.tag = _STR_TAG
    return problems


def _node_at(root: yaml.Node | None, path: Path) -> yaml.Node | None:
    node = root
    for step in path:
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            node = node.value[step] if 0 <= step < len(node.value) else None
        elif isinstance(node, yaml.MappingNode) and isinstance(step, str):
            # the last one: it is the value read (a repeated key, or a key of the mapping
            # itself after the ones ``<<:`` merged in, which come first)
            node = next(
                (
                    v
                    for k, v in reversed(node.value)
                    if isinstance(k, yaml.ScalarNode) and k.value == step
                ),
                None,
            )
        else:
            return None
        if node is None:
            return None
    return node
