"""YAML files as plain data plus the line and column of every node, for precise messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # the C parser is several times faster; fall back to pure Python where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

KeyPath = tuple[Any, ...]
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
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
    aliases: dict = field(default_factory=dict)  # step id -> the Source of the fragment that defines it

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
        """The problem at `keypath`; one in a step an included fragment brought is reported in the fragment's file."""
        if len(keypath) > 1 and keypath[0] == "steps" and keypath[1] in self.aliases:
            return self.aliases[keypath[1]].problem(keypath, f"{message} (included by {self.path})", key)
        line, col = self.where(keypath, key)
        return Problem(self.path, line, col, message)


def parse(path: str, text: str) -> tuple[Source, list[Problem]]:
    """Parse YAML text; syntax errors, duplicate keys, tags, recursive or exploding aliases and characters YAML
    refuses come back as problems, never exceptions."""
    source = Source(path, text)
    undecoded = _NOT_UTF8.search(text)
    if undecoded:  # a byte that is not UTF-8, kept by definitions.read_text as an escape
        line, col = _position(text, undecoded.start())
        return source, [Problem(path, line, col, f"not UTF-8 (byte 0x{ord(undecoded.group()) - 0xDC00:02x}): save the "
                                                 "file as UTF-8 (in most editors: Save with Encoding, UTF-8)")]
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = _one_line(exc.problem or "invalid YAML")
        context = f" ({_one_line(exc.context)})" if exc.context else ""
        return source, [Problem(path, line, col, f"YAML syntax error: {what}{context}; check the indentation "
                                                 "and quoting on this line and the one before")]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other control characters)
        line, col = _position(text, exc.position)
        code = ord(exc.character) if isinstance(exc.character, str) else int(exc.character)
        return source, [Problem(path, line, col, f"character U+{code:04X} is not allowed in YAML: remove it (or "
                                                 "write it as an escape in a double-quoted text)")]
    except yaml.YAMLError as exc:  # pragma: no cover - other reader errors
        return source, [Problem(path, 1, 1, f"cannot read YAML: {_one_line(str(exc))}")]
    except (RecursionError, MemoryError):
        return source, [Problem(path, 1, 1, "the YAML is nested too deeply to read")]
    problems: list[Problem] = []
    if node is None:
        return source, [Problem(path, 1, 1, "the file is empty; expected a mapping with `id`")]
    source.node = node
    try:
        source.data = _Builder(path, problems).build(node)
    except _TooMany as exc:
        return source, [Problem(path, *exc.where, exc.message)]
    return source, problems


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _position(text: str, offset: int) -> tuple[int, int]:
    """Line and column (1-based) of a character offset in `text`."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


MAX_VALUES = 200_000  # values a file may expand to (through aliases too); a definition has a few thousand
MAX_NESTING = 200  # levels of mappings and lists
_PLAIN_TAGS = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"}  # kept as written
_VALUE_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
               "tag:yaml.org,2002:null"}
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class _TooMany(Exception):
    def __init__(self, where: tuple[int, int], message: str) -> None:
        super().__init__(message)
        self.where, self.message = where, message


class _Builder:
    """YAML nodes to plain data: keys are names, tags only the plain ones, aliases neither recursive nor
    expanding beyond MAX_VALUES values."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path, self.problems = path, problems
        self.count = 0
        self.open: set[int] = set()  # the nodes being built (an alias to one of them is recursive)

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooMany(_mark(node), f"the file expands to more than {MAX_VALUES:,} values (aliases repeating "
                                        "aliases?): write the values out, or use fewer aliases")
        if depth > MAX_NESTING:
            raise _TooMany(_mark(node), f"more than {MAX_NESTING} levels of nesting")
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self.open:
            raise _TooMany(_mark(node), "an alias refers to a value that contains it (a recursive alias): write "
                                        "the value out")
        if node.tag not in _COLLECTION_TAGS:
            self.problems.append(Problem(self.path, *_mark(node), f"tag '{node.tag.split(':', 2)[-1]}' is not "
                                                                  "allowed: write plain YAML mappings and lists"))
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, depth + 1) for item in node.value]
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                # keys are names: `no:`, `on:` or `1:` stay text instead of YAML 1.1's booleans and numbers
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(Problem(self.path, *_mark(key_node),
                                                 "a key must be a plain name, not a list or mapping"))
                    continue
                key = key_node.value
                if key in out:  # reported once; the later value wins, as in every YAML reader
                    self.problems.append(Problem(self.path, *_mark(key_node), f"duplicate key '{key}': each key may "
                                                                              "appear only once in a mapping; remove "
                                                                              "or rename one"))
                out[key] = self.build(value_node, depth + 1)
            return out
        finally:
            self.open.discard(id(node))

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag in _PLAIN_TAGS:  # text (most of a definition), and dates kept as written (JSON has no date)
            return node.value
        if node.tag not in _VALUE_TAGS:
            self.problems.append(Problem(self.path, *_mark(node), f"tag '{node.tag.split(':', 2)[-1]}' is not "
                                                                  "allowed: write the value plainly"))
            return node.value
        if node.tag == "tag:yaml.org,2002:int" and len(node.value) > 100:
            self.problems.append(Problem(self.path, *_mark(node), f"a number of {len(node.value):,} digits: at most "
                                                                  "100"))
            return None
        try:
            return _constructor.construct_object(node)
        except (ValueError, yaml.YAMLError):
            kind = node.tag.rsplit(":", 1)[-1]
            self.problems.append(Problem(self.path, *_mark(node), f"'{node.value[:40]}' is not a valid {kind}: write "
                                                                  "it plainly, or in quotes as text"))
            return None
