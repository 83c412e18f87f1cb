"""`goldkey migrate`: move the running instances of a workflow started on an older version to the current one (those
that can), or with --dry-run only list them with whether each can and why not. A table, or JSON with --json."""

from __future__ import annotations

import unicodedata

import click

from .cliutil import engine_of, out


@click.command()
@click.argument("workflow")
@click.option("--from", "from_version", metavar="VERSION",
              help="Only the instances on this version (as `goldkey show` prints it; 4 characters or more of it).")
@click.option("--dry-run", is_flag=True, help="Only list them, each with whether it can move and why not.")
@click.option("--as", "user", help="Who moves them (an administrator: goldkey.yaml's admin_roles); recorded in each "
                                   "instance's history. Needed unless --dry-run.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
@click.pass_context
def migrate(ctx: click.Context, workflow: str, from_version: str | None, dry_run: bool, user: str | None,
            as_json: bool) -> None:
    """Move the running instances of WORKFLOW that were started on an older version to its current version: those
    whose steps, data and ledgers the new version still fits, each in one transaction, recorded in its history.
    Open tasks keep their ids, due times and signatures. Exit 0 whether or not all could move.

    \b
    Example:
      goldkey migrate renovation --dry-run
      goldkey migrate renovation --from 3f9a1c2b --dry-run --json
      goldkey migrate renovation --as jing
    """
    engine = engine_of(ctx)
    if dry_run:
        report = engine.migration_plan(workflow, from_version, user)
    elif not user:
        raise click.UsageError("moving instances needs --as USER (an administrator), or --dry-run to only list them")
    else:
        report = engine.migrate(workflow, user, from_version)
    if as_json:
        out(report)
    else:
        click.echo(table(report))


def table(report: dict) -> str:
    """The report as lines for a terminal: one row per instance, then the summary line."""
    moving = "moved" in report
    head = ["案件", "編號", "原版本", "目前步驟", "結果" if moving else "可否移轉", "原因／變更"]
    rows = []
    for item in report["instances"]:
        if moving:
            verdict = "已移轉" if item["moved"] else "不可移轉"
        else:
            verdict = "可移轉" if item["movable"] else "不可移轉"
        why = item["reasons"] if item["reasons"] else item["notes"]
        rows.append([str(item["instance"]), item["number"] or "", (item["version"] or "")[:8],
                     "、".join(item["steps"]), verdict, "；".join(why)])
    lines = [f"{report['title']}（{report['workflow']}）目前版本 {report['version']}"]
    if rows:
        widths = [max(_width(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
        for row in [head, *rows]:
            lines.append("  ".join([*(_pad(cell, w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip())
    else:
        lines.append("沒有按舊版本進行中的案件")
    done = f"已移轉 {report['moved']} 件" if moving else f"可移轉 {report['movable']} 件"
    lines.append(f"{done}，不可移轉 {report['blocked'] if not moving else len(rows) - report['moved']} 件")
    return "\n".join(lines)


def _width(text: str) -> int:
    """Columns a terminal gives `text` (a Chinese character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
