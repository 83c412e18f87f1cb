"""YAML files as plain data plus the line and column of every node, for precise messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

try:  # the C parser is several times faster; fall back to pure Python where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

KeyPath = tuple[Any, ...]
_AS_WRITTEN = frozenset({"tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"})
_constructor = yaml.constructor.SafeConstructor()


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in a definition file, printed as `path:line:col: message`."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


@dataclass
class Source:
    """A parsed YAML file: its data, and its YAML nodes to tell where each value and key came from (1-based)."""

    path: str
    text: str
    data: Any = None
    node: Any = None  # the composed YAML (positions are looked up only for the problems reported)

    def where(self, keypath: KeyPath, key: bool = False) -> tuple[int, int]:
        """Line and column of the node at `keypath` (its key with `key=True`), or its nearest parent."""
        node, key_node = self.node, None
        if node is None:
            return 1, 1
        for part in keypath:
            child = None
            if isinstance(node, yaml.MappingNode):
                for k, v in reversed(node.value):  # a duplicated key: the later one, as the data has it
                    if isinstance(k, yaml.ScalarNode) and k.value == part:
                        child, key_node = v, k
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                child, key_node = node.value[part], None
            if child is None:
                return _mark(node)
            node = child
        return _mark(key_node if key and key_node is not None else node)

    def problem(self, keypath: KeyPath, message: str, key: bool = False) -> Problem:
        line, col = self.where(keypath, key)
        return Problem(self.path, line, col, message)


def parse(path: str, text: str) -> tuple[Source, list[Problem]]:
    """Parse YAML text; syntax errors and duplicate keys come back as problems, not exceptions."""
    source = Source(path, text)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        return source, [Problem(path, line, col, f"YAML syntax error: {what}{context}; check the indentation "
                                                 "and quoting on this line and the one before")]
    except yaml.YAMLError as exc:  # pragma: no cover - reader errors such as bad bytes
        return source, [Problem(path, 1, 1, f"cannot read YAML: {exc}")]
    problems: list[Problem] = []
    if node is None:
        return source, [Problem(path, 1, 1, "the file is empty; expected a mapping with `id`")]
    source.node = node
    source.data = _build(node, path, problems)
    return source, problems


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, path: str, problems: list[Problem]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            # keys are names: `no:`, `on:` or `1:` stay text instead of YAML 1.1's booleans and numbers
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(path, *_mark(key_node), "a key must be a plain name, not a list or mapping"))
                continue
            key = key_node.value
            if key in out:  # reported once; the later value wins, as in every YAML reader
                problems.append(Problem(path, *_mark(key_node), f"duplicate key '{key}': each key may appear "
                                                                "only once in a mapping; remove or rename one"))
            out[key] = _build(value_node, path, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path, problems) for item in node.value]
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    if node.tag in _AS_WRITTEN:  # text (most of a definition), and dates kept as written: JSON has no date type
        return node.value
    return _constructor.construct_object(node)
