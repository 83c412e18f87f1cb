"""What the `goldkey` commands share: the engine of the invocation, JSON out, JSON data in."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import click

from .errors import Invalid


def out(value: object) -> None:
    """A result as indented JSON on stdout."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def parse_data(text: str | None) -> dict | None:
    """`--data`: a JSON object, or @file.json; money stays exact."""
    if text is None:
        return None
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise Invalid(f"cannot read --data file {text[1:]}: {exc.strerror}") from None
    try:  # money is never read as a float; NaN and Infinity are not JSON
        data = json.loads(text, parse_float=Decimal, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise Invalid(f"--data is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Invalid("--data is nested too deeply") from None
    if not isinstance(data, dict):
        raise Invalid('--data must be a JSON object, e.g. {"owner": "王先生"}')
    return data


def _not_json(name: str) -> None:
    raise Invalid(f"--data is not valid JSON: {name} is not a number JSON allows")


def engine_of(ctx: click.Context):
    """The engine of this invocation, opened once on `--db` and `--defs`."""
    from .service import Engine

    if "engine" not in ctx.obj:
        ctx.obj["engine"] = Engine(ctx.obj["db"], ctx.obj["defs"])
        ctx.call_on_close(ctx.obj["engine"].close)
    return ctx.obj["engine"]
