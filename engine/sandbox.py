"""The Jinja2 sandbox printout templates run in, with limits, so that no template can stall a print or check.

Jinja's ImmutableSandboxedEnvironment (autoescape on) keeps templates away from Python internals and from
changing the data; on top of it, while a template renders (`budget()`):

- `*`, `**`, `+`, `%`, `//`, `/` and unary `-` go through the same guards as expressions (engine/limits.py):
  no text or list beyond 100,000 characters or items, no number beyond 1,000 digits;
- every call and filter counts a step and checks the clock; a filter given a number beyond 100,000 (a
  width, an indent) is refused before it builds anything, and what it returns is checked;
- `range` has at most 100,000 numbers and counts a step for each one a loop takes;
- a render stops after MAX_STEPS steps, MAX_SECONDS seconds or MAX_OUTPUT characters of output.

A refusal raises TemplateLimit (a Jinja SecurityError), which the renderer reports like any template problem.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jinja2 import ChainableUndefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import limits

MAX_STEPS = 1_000_000  # calls, filters, operators and loop turns of one render
MAX_SECONDS = 2.0  # wall-clock time of one render
MAX_OUTPUT = 20_000_000  # characters a render may produce (its XML)
MAX_RANGE = limits.MAX_SIZE


class TemplateLimit(SecurityError):
    """A render broke a limit."""


class _Budget(threading.local):
    steps = 0
    deadline = 0.0
    active = False

    def tick(self) -> None:
        if not self.active:
            return
        self.steps += 1
        if self.steps > MAX_STEPS or (not self.steps & 0x3FF and time.monotonic() > self.deadline):
            raise TemplateLimit(f"the template takes too long to print (more than {MAX_STEPS:,} steps or "
                                f"{MAX_SECONDS:g} s)")


_BUDGET = _Budget()


@contextmanager
def budget() -> Iterator[_Budget]:
    """Count this thread's template steps and time until the block ends."""
    _BUDGET.steps, _BUDGET.deadline, _BUDGET.active = 0, time.monotonic() + MAX_SECONDS, True
    try:
        yield _BUDGET
    finally:
        _BUDGET.active = False


def _guarded(value: Any) -> Any:
    try:
        return limits.bounded(value)
    except limits.TooMuch as exc:
        raise TemplateLimit(f"the template {exc.english}") from None


class _Range:
    """`range` for templates: at most MAX_RANGE numbers, each a step of the budget when a loop takes it."""

    def __init__(self, *args: int) -> None:
        self.numbers = range(*args)
        if len(self.numbers) > MAX_RANGE:
            raise TemplateLimit(f"range() of more than {MAX_RANGE:,} numbers")

    def __len__(self) -> int:
        return len(self.numbers)

    def __iter__(self) -> Iterator[int]:
        for number in self.numbers:
            _BUDGET.tick()
            yield number


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with the limits of the module docstring."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//", "/"})
    intercepted_unops = frozenset({"-"})
    _GUARDS = {"*": limits.multiply, "**": limits.power, "+": limits.add, "%": limits.modulo}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _Range
        # guarded where they are kept: Jinja calls a filter of constants while compiling, not via call_filter
        self.filters = {name: _guard_filter(name, function) for name, function in self.filters.items()}

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        _BUDGET.tick()
        guard = self._GUARDS.get(operator)
        try:
            result = guard(left, right) if guard else super().call_binop(context, operator, left, right)
        except limits.TooMuch as exc:
            raise TemplateLimit(f"the template {exc.english}") from None
        return _guarded(result)

    def call_unop(self, context, operator: str, arg: Any) -> Any:
        _BUDGET.tick()
        return _guarded(super().call_unop(context, operator, arg))

    def call(self, __context, __obj, *args: Any, **kwargs: Any) -> Any:
        _BUDGET.tick()
        return _guarded(super().call(__context, __obj, *args, **kwargs))

    def call_filter(self, name, value, args=None, kwargs=None, context=None, eval_ctx=None):
        _BUDGET.tick()
        return super().call_filter(name, value, args, kwargs, context, eval_ctx)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _BUDGET.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _BUDGET.tick()
        return super().getitem(obj, argument)


def _guard_filter(name: str, function):
    """The filter, refusing a number beyond MAX_SIZE among its arguments (a width, an indent, a count) before
    it builds anything, and checking what it returns."""
    first = 2 if getattr(function, "jinja_pass_arg", None) else 1  # (the context or environment, then the value)

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        for arg in [*args[first:], *kwargs.values()]:
            if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > limits.MAX_SIZE:
                raise TemplateLimit(f"filter '{name}' given {arg:,}: at most {limits.MAX_SIZE:,}")
        return _guarded(function(*args, **kwargs))
    return guarded


def environment() -> BoundedSandbox:
    """The sandbox templates run in: no attribute starting with `_`, no mutation, everything escaped, bounded."""
    # (not optimized: Jinja's optimizer computes constant parts while compiling, outside these guards)
    return BoundedSandbox(autoescape=True, undefined=ChainableUndefined, keep_trailing_newline=True, optimized=False)


def render_text(compiled, context: dict) -> str:
    """A compiled template's output, within the budget's steps and time and MAX_OUTPUT characters."""
    parts: list[str] = []
    total = 0
    for chunk in compiled.generate(context):
        total += len(chunk)
        if total > MAX_OUTPUT:
            raise TemplateLimit(f"the template prints more than {MAX_OUTPUT:,} characters")
        _BUDGET.tick()
        parts.append(chunk)
    return "".join(parts)
