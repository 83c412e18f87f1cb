"""`goldkey records ...`: record types and records from the command line (JSON out, one-line errors), imports and
exports with a progress bar on stderr."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cliutil import engine_of, out, parse_data
from .errors import Invalid


@click.group()
def records() -> None:
    """Records (master data): units, customers, shops, keys ... as records/*.yaml declares them."""


@records.command("types")
@click.option("--as", "user", required=True, help="Who asks (the types they may read).")
@click.pass_context
def records_types(ctx: click.Context, user: str) -> None:
    """List the record types USER may read.

    \b
    Example:
      goldkey records types --as li
    """
    out(engine_of(ctx).record_types(user))


@records.command("list")
@click.argument("type_id", metavar="TYPE")
@click.option("--as", "user", required=True, help="Who reads them.")
@click.option("--search", "-q", default="", help="Part of the key or of a searched field (owner, phone ...).")
@click.option("--state", default="", help="Only records in this state.")
@click.option("--page", default=1, type=click.IntRange(1, 100000), show_default=True)
@click.pass_context
def records_list(ctx: click.Context, type_id: str, user: str, search: str, state: str, page: int) -> None:
    """List records of TYPE, by key, 50 a page.

    \b
    Example:
      goldkey records list unit --as li -q 王
      goldkey records list key --as li --state 借出
    """
    found = engine_of(ctx).records(type_id, user, search, state, page)
    out({"type": type_id, "total": found["total"], "page": page, "states": found["states"], "rows": found["rows"]})


@records.command("show")
@click.argument("type_id", metavar="TYPE")
@click.argument("record")
@click.option("--as", "user", required=True, help="Who reads it.")
@click.pass_context
def records_show(ctx: click.Context, type_id: str, record: str, user: str) -> None:
    """Show one record of TYPE (its id, or its key) with its history.

    \b
    Example:
      goldkey records show unit 12 --as li
      goldkey records show key K-031 --as li
    """
    engine = engine_of(ctx)
    out(engine.record(type_id, _record_id(engine, type_id, record, user), user))


def _record_id(engine, type_id: str, record: str, user: str) -> int | str:
    """A record given by its key, or by its id."""
    return engine.record_id(type_id, record, user)


@records.command("add")
@click.argument("type_id", metavar="TYPE")
@click.option("--as", "user", required=True, help="Who adds it.")
@click.option("--data", required=True, help="Its fields as JSON, or @file.json.")
@click.option("--state", help="Its state (default: the type's initial state).")
@click.option("--site", help="At which site (管理處); needed when the user may edit at several.")
@click.pass_context
def records_add(ctx: click.Context, type_id: str, user: str, data: str, state: str | None, site: str | None) -> None:
    """Add a record of TYPE.

    \b
    Example:
      goldkey records add unit --as li --data '{"building": "A棟", "unit": "1203", "area": 98.5}'
    """
    out(engine_of(ctx).add_record(type_id, user, parse_data(data), state, site))


@records.command("edit")
@click.argument("type_id", metavar="TYPE")
@click.argument("record")
@click.option("--as", "user", required=True, help="Who changes it.")
@click.option("--data", required=True, help="The fields to change as JSON (null clears one), or @file.json.")
@click.pass_context
def records_edit(ctx: click.Context, type_id: str, record: str, user: str, data: str) -> None:
    """Change fields of a record of TYPE (its id, or its key).

    \b
    Example:
      goldkey records edit unit "A棟 1203" --as li --data '{"owner": "李小姐"}'
    """
    engine = engine_of(ctx)
    out(engine.edit_record(type_id, _record_id(engine, type_id, record, user), user, parse_data(data)))


@records.command("move")
@click.argument("type_id", metavar="TYPE")
@click.argument("record")
@click.argument("state")
@click.option("--as", "user", required=True, help="Who moves it.")
@click.option("--comment", help="Why, in words (kept in its history).")
@click.pass_context
def records_move(ctx: click.Context, type_id: str, record: str, state: str, user: str, comment: str | None) -> None:
    """Move a record of TYPE to STATE, as the type's moves allow.

    \b
    Example:
      goldkey records move unit "A棟 1203" 出租 --as li
    """
    engine = engine_of(ctx)
    out(engine.move_record(type_id, _record_id(engine, type_id, record, user), user, state, comment))


@records.command("import")
@click.argument("type_id", metavar="TYPE")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "user", required=True, help="Who imports them (recorded on every record).")
@click.option("--partial", is_flag=True, help="Import the good rows even when others fail.")
@click.option("--site", help="At which site (管理處); needed when the user may edit at several.")
@click.pass_context
def records_import(ctx: click.Context, type_id: str, file: str, user: str, partial: bool, site: str | None) -> None:
    """Import records of TYPE from a .csv or .xlsx file (its first row names the fields, by title or id): a new key
    adds a record, a known one changes it. Every row is checked first; nothing is imported when a row fails unless
    --partial. Prints the report (rows created, updated, unchanged, and each failed row's problems); exits 1 when
    rows failed.

    \b
    Example:
      goldkey records import unit units.xlsx --as li
      goldkey records import customer customers.csv --as li --partial
    """
    from .recordio import read_sheet

    engine = engine_of(ctx)
    rt = engine.record_type(type_id)
    rows = read_sheet(rt, Path(file).read_bytes(), file)
    with click.progressbar(length=max(len(rows), 1), label=f"匯入{rt.title}", file=sys.stderr) as bar:
        done = [0]

        def progress(count: int, total: int) -> None:
            bar.update(count - done[0])
            done[0] = count

        report = engine.import_records(type_id, user, rows, partial, site, progress)
    out(report)
    if report["failed"]:
        sys.exit(1)


@records.command("export")
@click.argument("type_id", metavar="TYPE")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="A .csv or .xlsx file.")
@click.option("--as", "user", required=True, help="Who exports them (confidential fields as they may read them).")
@click.option("--search", "-q", default="", help="Only records matching this.")
@click.option("--state", default="", help="Only records in this state.")
@click.pass_context
def records_export(ctx: click.Context, type_id: str, output: str, user: str, search: str, state: str) -> None:
    """Export records of TYPE to a .csv or .xlsx file that `records import` reads back.

    \b
    Example:
      goldkey records export unit -o units.xlsx --as li
    """
    from . import registers
    from .recordio import table

    if not output.lower().endswith((".csv", ".xlsx")):
        raise Invalid("-o must name a .csv or .xlsx file")
    engine = engine_of(ctx)
    with click.progressbar(length=1, label=f"匯出{engine.record_type(type_id).title}", file=sys.stderr) as bar:
        def progress(count: int, total: int) -> None:
            bar.length = total
            bar.update(count - bar.pos)

        rt, rows = engine.export_records(type_id, user, search, state, progress)
        sites = engine.site_titles()
        header, cells = table(rt, rows, sites if len(sites) > 1 else None,
                              set().union(*(set(r["hidden"]) for r in rows)))
        body = registers.to_csv(header, cells) if output.lower().endswith(".csv") else \
            registers.to_xlsx(rt.title, header, cells)
        bar.update(max(bar.length - bar.pos, 0))
    Path(output).write_bytes(body)
    out({"type": type_id, "file": output, "rows": len(rows)})


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write a .xlsx, .csv or .docx file instead.")
@click.option("--as", "user", help="Run it as this user (their sites, confidential fields hidden); default: every "
                                   "site.")
@click.option("--site", help="Only this site (管理處).")
@click.pass_context
def report(ctx: click.Context, name: str, output: str | None, user: str | None, site: str | None) -> None:
    """Run the report NAME (reports/NAME.yaml) with its parameters as options; JSON on stdout, or -o FILE.

    \b
    Example:
      goldkey report unit_status --month 2026-11 -o 房屋情況統計表.xlsx
      goldkey report repair_daily --day 2026-12-01
      goldkey report complaints_monthly --month 2026-11 --department 工程部 -o 投訴匯總.docx
    """
    from .reportservice import report_file

    params: dict[str, str] = {}
    extra = list(ctx.args)
    while extra:
        option = extra.pop(0)
        if not option.startswith("--") or not extra:
            raise Invalid(f"parameters are given as --NAME VALUE (e.g. --month 2026-11), not '{option}'")
        params[option[2:].replace("-", "_")] = extra.pop(0)
    engine = engine_of(ctx)
    result = engine.run_report(name, user, params, site)
    if not output:
        out(result)
        return
    kind = output.rsplit(".", 1)[-1].lower() if "." in output else ""
    body, _ = report_file(engine, result, kind)
    Path(output).write_bytes(body)
    rows = {t["id"]: len(t["rows"]) or len((t.get("grid") or {}).get("rows", [])) for t in result["tables"]}
    out({"report": name, "file": output, "tables": rows})
