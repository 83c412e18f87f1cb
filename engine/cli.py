"""The `goldkey` command: parses arguments, calls the engine, prints JSON; errors become one line."""

from __future__ import annotations

import re
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from . import definitions
from .admincli import reads, retention
from .cliutil import engine_of as _engine
from .cliutil import out as _out
from .cliutil import parse_data as _parse_data
from .errors import Conflict, DefinitionError, Forbidden, GoldkeyError, Invalid, NotFound, Unavailable
from .migratecli import migrate
from .recordcli import records, report

EXIT_CODES = {Invalid: 1, DefinitionError: 1, Forbidden: 3, NotFound: 4, Conflict: 5, Unavailable: 6}


def _parse_day(text: str | None, what: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{what} '{text}' is not a date; write YYYY-MM-DD, e.g. 2026-11-01") from None


def _parse_local(text: str, tz) -> datetime:
    """An ISO time; one without a zone is read in the site's zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"'{text}' is not an ISO time, e.g. 2026-09-30T16:00 or 2026-09-30T16:00+08:00") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"--now '{text}' is not an ISO time, e.g. 2026-10-01T09:00:00+08:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _Group(click.Group):
    """Turns engine errors into one line on stderr and a non-zero exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DefinitionError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(1)
        except GoldkeyError as exc:
            click.echo(f"goldkey: {exc.message}".replace("\n", " "), err=True)
            sys.exit(EXIT_CODES.get(type(exc), 1))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", default="goldkey.db", envvar="GOLDKEY_DB", show_default=True,
              help="An SQLite database file, or a PostgreSQL URL (postgresql://user@host/db).")
@click.option("--defs", default=".", envvar="GOLDKEY_DEFS", show_default=True,
              help="Folder holding goldkey.yaml, forms/ and workflows/.")
@click.pass_context
def main(ctx: click.Context, db: str, defs: str) -> None:
    """goldkey: property-management procedures declared in YAML, run on SQLite.

    \b
    Example:
      goldkey check
      goldkey users add wang --role concierge
      goldkey start key_lending --as wang --data '{"owner": "李先生"}'
    """
    ctx.obj = {"db": db, "defs": defs}


@main.command()
@click.argument("directory", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the problems as a JSON list instead.")
@click.pass_context
def check(ctx: click.Context, directory: str | None, as_json: bool) -> None:
    """Load and lint every definition; one `path:line:col: message` line per problem.

    \b
    Example:
      goldkey check            # the current folder (or --defs)
      goldkey check ../site-b  # another definitions folder
      goldkey check --json     # [{"path", "line", "col", "message"}]
    """
    root = directory or ctx.obj["defs"]
    registry = definitions.load(root, display_root=root if directory else ("" if root == "." else root),
                                templates=True)
    if as_json:
        _out([{"path": p.path, "line": p.line, "col": p.col, "message": p.message,
               "severity": "warning" if p in registry.warnings else "error"}
              for p in registry.problems + registry.warnings])
    else:
        for problem in registry.problems:
            click.echo(str(problem))
        for warning in registry.warnings:  # on stderr: they do not fail the check
            click.echo(str(warning), err=True)
    if registry.problems:
        sys.exit(1)
    if not as_json:
        click.echo(f"ok: {len(registry.site.roles)} roles, {len(registry.records)} record types, "
                   f"{len(registry.forms)} forms, "
                   f"{len(registry.workflows)} workflows")


@main.command()
@click.pass_context
def workflows(ctx: click.Context) -> None:
    """List workflows as JSON: id, title, version.

    \b
    Example:
      goldkey workflows
    """
    _out(_engine(ctx).workflows())


@main.command()
@click.argument("workflow")
@click.pass_context
def describe(ctx: click.Context, workflow: str) -> None:
    """Describe a workflow: roles, start fields, JSON Schemas, steps and printouts.

    \b
    Example:
      goldkey describe key_lending
    """
    _out(_engine(ctx).describe(workflow))


@main.group()
def users() -> None:
    """Manage users, their roles and deputies."""


@users.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="A role id from goldkey.yaml (repeatable).")
@click.option("--title", help="Display name, e.g. 王小明.")
@click.option("--site", help="The site (管理處) the roles are held at; '*' for the whole company. Needed once there "
                             "are sites besides the default one.")
@click.pass_context
def users_add(ctx: click.Context, name: str, roles: tuple[str, ...], title: str | None, site: str | None) -> None:
    """Add a user (or give an existing user more roles).

    \b
    Example:
      goldkey users add wang --role concierge --role service_centre
      goldkey users add wang --role concierge --site yilin
      goldkey users add zhou --role manager --site '*'      # every site
    """
    _out(_engine(ctx).add_user(name, list(roles), title, site))


@users.command("password")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The new password (asked for when not given).")
@click.pass_context
def users_password(ctx: click.Context, name: str, password: str) -> None:
    """Set a user's password for the web UI (at least 8 characters; stored as an scrypt hash).

    \b
    Example:
      goldkey users password wang
    """
    _engine(ctx).set_password(name, password)
    _out({"name": name, "password": "set"})


@users.command("token")
@click.argument("name")
@click.option("--days", type=int, default=90, show_default=True, help="How many days the token works.")
@click.option("--no-expiry", is_flag=True, help="The token works until revoked.")
@click.pass_context
def users_token(ctx: click.Context, name: str, days: int, no_expiry: bool) -> None:
    """Make an API token for a program acting as NAME (send it as `Authorization: Bearer ...`); shown once.

    \b
    Example:
      goldkey users token wang
      goldkey users token wang --days 7
    """
    engine = _engine(ctx)
    token = engine.new_token(name, None if no_expiry else days)
    made = next(t for t in engine.tokens(name) if t["id"] == engine.token_id(token))
    _out({"name": name, "token": token, "id": made["id"], "expires_at": made["expires_at"]})


@users.command("tokens")
@click.argument("name")
@click.pass_context
def users_tokens(ctx: click.Context, name: str) -> None:
    """List NAME's API tokens: id, when made, when they expire, last used, revoked.

    \b
    Example:
      goldkey users tokens wang
    """
    _out(_engine(ctx).tokens(name))


@users.command("revoke")
@click.argument("name")
@click.argument("token_id", required=False, default="")
@click.option("--all", "every", is_flag=True, help="Revoke every token of NAME.")
@click.pass_context
def users_revoke(ctx: click.Context, name: str, token_id: str, every: bool) -> None:
    """Revoke one of NAME's API tokens (its id from `goldkey users tokens`), or all of them with --all.

    \b
    Example:
      goldkey users revoke wang 3f9a1c2b7d4e
      goldkey users revoke wang --all
    """
    if bool(token_id) == every:
        raise click.UsageError("give a token id (from `goldkey users tokens NAME`) or --all")
    _out({"name": name, "revoked": _engine(ctx).revoke_tokens(name, token_id)})


@users.command("signout")
@click.argument("name")
@click.pass_context
def users_signout(ctx: click.Context, name: str) -> None:
    """End every web session of NAME (a lost phone, a shared computer); the next page asks them to log in.

    \b
    Example:
      goldkey users signout wang
    """
    _engine(ctx).end_sessions(name)
    _out({"name": name, "sessions": "ended"})


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """List users and their roles.

    \b
    Example:
      goldkey users list
    """
    _out([{k: u[k] for k in ("name", "title", "roles", "sites")} for u in _engine(ctx).users()])


@main.group()
def sites() -> None:
    """The sites (管理處) one deployment serves."""


@sites.command("add")
@click.argument("site")
@click.option("--title", required=True, help="The name staff read, e.g. 意林小鎮管理處.")
@click.option("--prefix", help="Put before each document number of the site, e.g. YL (YL-JYS-2026-0001).")
@click.option("--timezone", help="The site's time zone if not goldkey.yaml's, e.g. Asia/Hong_Kong.")
@click.option("--holiday", "holidays", multiple=True, metavar="DATE=NAME",
              help="A day off the site adds to goldkey.yaml's calendar (repeatable).")
@click.option("--workday", "workdays", multiple=True, metavar="DATE=NAME",
              help="A make-up working day the site adds (repeatable).")
@click.pass_context
def sites_add(ctx: click.Context, site: str, title: str, prefix: str | None, timezone: str | None,
              holidays: tuple[str, ...], workdays: tuple[str, ...]) -> None:
    """Add a site (or change it); its numbers are counted on their own, its deadlines on its own calendar.

    \b
    Example:
      goldkey sites add yilin --title 意林小鎮管理處 --prefix YL
      goldkey sites add hk --title 香港管理處 --timezone Asia/Hong_Kong --holiday 2027-07-01=香港特區成立紀念日
    """
    def days(given: tuple[str, ...]) -> dict[str, str]:
        return {d.strip(): (n.strip() or "休假") for d, _, n in (item.partition("=") for item in given)}

    _out(_engine(ctx).add_site(site, title, prefix, timezone, days(holidays), days(workdays)))


@sites.command("list")
@click.pass_context
def sites_list(ctx: click.Context) -> None:
    """List the sites: id, title, number prefix.

    \b
    Example:
      goldkey sites list
    """
    _out(_engine(ctx).sites())


@users.command("deputy")
@click.argument("name")
@click.argument("deputy")
@click.option("--from", "starts", required=True, help="First day, YYYY-MM-DD.")
@click.option("--until", "ends", required=True, help="Last day, YYYY-MM-DD.")
@click.pass_context
def users_deputy(ctx: click.Context, name: str, deputy: str, starts: str, ends: str) -> None:
    """Name DEPUTY to act for NAME over a date range; their actions record "acting for NAME".

    \b
    Example:
      goldkey users deputy chen li --from 2026-12-01 --until 2026-12-07
    """
    _out(_engine(ctx).delegate(name, deputy, starts, ends))


@main.command()
@click.argument("workflow")
@click.option("--as", "user", required=True, help="The user starting it.")
@click.option("--data", help="Start fields as JSON, or @file.json.")
@click.option("--site", help="At which site (管理處); needed when the user may start it at several.")
@click.option("--now", help="Rehearse: run as if it were this ISO time (a scratch database; recorded as rehearsed).")
@click.pass_context
def start(ctx: click.Context, workflow: str, user: str, data: str | None, site: str | None, now: str | None) -> None:
    """Start an instance of WORKFLOW; prints the instance (open tasks, ledger, history).

    \b
    Example:
      goldkey start key_lending --as li --data @request.json
      goldkey start key_lending --as zhou --site yilin --data @request.json
      goldkey start key_lending --as li --data @request.json --now 2026-12-01T09:00:00+08:00   # a rehearsal
    """
    engine = _engine(ctx)
    _out(engine.show(engine.start(workflow, user, _parse_data(data), site, now=_parse_now(now))["id"]))


@main.command()
@click.option("--as", "user", required=True, help="Whose inbox.")
@click.pass_context
def tasks(ctx: click.Context, user: str) -> None:
    """List the open tasks a user may act on, overdue first.

    \b
    Example:
      goldkey tasks --as wang
    """
    _out(_engine(ctx).tasks(user))


@main.command()
@click.argument("task")
@click.option("--as", "user", required=True, help="The user acting.")
@click.option("--outcome", help="approve, reject, rework or a step's own outcome.")
@click.option("--data", help='Field values as JSON or @file; a checklist takes {"checked": [item ids]}.')
@click.option("--comment", help="Comment or reason (required for reject and rework).")
@click.option("--now", help="Rehearse: run as if it were this ISO time, not before the instance's last event "
                            "(recorded as rehearsed).")
@click.pass_context
def complete(ctx: click.Context, task: str, user: str, outcome: str | None, data: str | None,
             comment: str | None, now: str | None) -> None:
    """Complete (or sign, or tick) TASK; prints the instance (open tasks, ledger, history).

    \b
    Example:
      goldkey complete 12-3 --as chen --outcome approve --comment 同意
      goldkey complete 12-3 --as chen --outcome approve --now 2027-02-01T10:00:00+08:00   # a rehearsal
    """
    engine = _engine(ctx)
    _out(engine.show(engine.complete(task, user, outcome, _parse_data(data), comment, now=_parse_now(now))["id"]))


@main.command()
@click.argument("instance")
@click.pass_context
def show(ctx: click.Context, instance: str) -> None:
    """Show an instance: data, tasks, ledger entries and history.

    \b
    Example:
      goldkey show 12
    """
    _out(_engine(ctx).show(instance))


@main.command()
@click.option("--now", help="Pretend it is this ISO time (tests, catching up).")
@click.pass_context
def tick(ctx: click.Context, now: str | None) -> None:
    """Apply everything due up to now: scheduled starts, timers, reminders, escalations and other deadline
    actions. Each is applied once, however often tick runs and from however many processes.

    \b
    Example:
      goldkey tick
      goldkey tick --now 2026-12-01T09:00:00+08:00
    """
    _out(_engine(ctx).tick(_parse_now(now)))


@main.command()
@click.argument("task")
@click.option("--as", "user", required=True, help="The user acting.")
@click.option("--state", "hold_state", required=True, help="One of the step's named hold states.")
@click.option("--comment", help="Why, e.g. 業主出差，下週一回覆.")
@click.pass_context
def hold(ctx: click.Context, task: str, user: str, hold_state: str, comment: str | None) -> None:
    """Pause a task's clock in a named state (e.g. waiting for the owner); `resume` restarts it.

    \b
    Example:
      goldkey hold 12-3 --as li --state owner --comment 業主出差
    """
    _out(_engine(ctx).hold(task, user, hold_state, comment))


@main.command()
@click.argument("task")
@click.option("--as", "user", required=True, help="The user acting.")
@click.option("--comment", help="Optional note.")
@click.pass_context
def resume(ctx: click.Context, task: str, user: str, comment: str | None) -> None:
    """Restart a held task's clock; its due time moves on by the time it was held.

    \b
    Example:
      goldkey resume 12-3 --as li
    """
    _out(_engine(ctx).resume(task, user, comment))


@main.command()
@click.option("--as", "user", required=True, help="Whose notifications (their roles and deputyships).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
@click.pass_context
def notifications(ctx: click.Context, user: str, limit: int) -> None:
    """Reminders, escalations and notices addressed to the user's roles, newest first.

    \b
    Example:
      goldkey notifications --as wang
    """
    _out(_engine(ctx).notifications(user, limit))


@main.command()
@click.option("--from", "first", help="First day, YYYY-MM-DD (default: 29 days before --to).")
@click.option("--to", "last", help="Last day, YYYY-MM-DD (default: today).")
@click.option("--workflow", help="Only this workflow.")
@click.option("--site", help="Only this site (管理處); default: every site.")
@click.pass_context
def sla(ctx: click.Context, first: str | None, last: str | None, workflow: str | None, site: str | None) -> None:
    """SLA figures: per step count, on time, overdue, median and 90th percentile minutes; per workflow its
    target rates (e.g. return visits) with pass/fail.

    \b
    Example:
      goldkey sla --from 2026-11-01 --to 2026-11-30
      goldkey sla --workflow key_lending
      goldkey sla --site yilin
    """
    _out(_engine(ctx).sla(_parse_day(first, "--from"), _parse_day(last, "--to"), workflow, site))


@main.command()
@click.argument("instance")
@click.argument("printout")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the .docx.")
@click.option("--as", "user", required=True, help="Who prints it (recorded; a reprint is marked 副本).")
@click.option("--pdf", is_flag=True, help="Also convert it to PDF beside it (needs LibreOffice).")
@click.pass_context
def render(ctx: click.Context, instance: str, printout: str, output: str, user: str, pdf: bool) -> None:
    """Print a printout of an instance to a Word file, with its verification code and QR.

    \b
    Example:
      goldkey render 12 receipt -o receipt.docx --as wang
      goldkey render 12 receipt -o receipt.docx --as wang --pdf
    """
    body, info = _engine(ctx).render(instance, printout, user)
    path = Path(output)
    path.write_bytes(body)
    info["file"] = str(path)
    if pdf:
        from .pdf import convert

        info["pdf"] = str(convert([path])[0])
    _out(info)


@main.command()
@click.argument("code")
@click.pass_context
def verify(ctx: click.Context, code: str) -> None:
    """Is a printed document genuine and current? CODE is the code printed under its QR.

    \b
    Example:
      goldkey verify K7QX-M2PD-9A
    """
    result = _engine(ctx).verify(code)
    _out(result)
    if not result["genuine"]:
        sys.exit(1)


@main.command()
@click.argument("workflow")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the .docx.")
@click.pass_context
def manual(ctx: click.Context, workflow: str, output: str) -> None:
    """Write the procedure's work instruction (作業指導書) from its YAML.

    \b
    Example:
      goldkey manual key_lending -o 鑰匙借用作業指導書.docx
    """
    from .manual import write_manual

    registry = definitions.load_strict(ctx.obj["defs"])
    write_manual(registry.workflow(workflow), registry, output)
    _out({"workflow": workflow, "file": output})


@main.group()
def printout() -> None:
    """Printout templates: the .docx files under printouts/ are the truth; this only starts new ones."""


@printout.command("new")
@click.argument("form")
@click.argument("name")
@click.option("--title", help="The printout's title (default: the form's), when the form does not declare it yet.")
@click.pass_context
def printout_new(ctx: click.Context, form: str, name: str, title: str | None) -> None:
    """Write a generic starting template for printout NAME of FORM from the form's fields (copies, approvals,
    checklists, ledgers, signature lines, the QR block); never overwrites an existing file. Edit it in Word
    afterwards; `goldkey check` checks it.

    \b
    Example:
      goldkey printout new key_lending slip           # the form declares printouts: {slip: {template: ...}}
      goldkey printout new key_lending receipt --title 鑰匙借用憑證
    """
    from . import scaffold
    from .hints import did_you_mean
    from .printcheck import context_keys, lint, rehearse
    from .printouts import load

    root = Path(ctx.obj["defs"])
    registry = definitions.load(root)
    found = registry.forms.get(form)
    if found is None:
        raise NotFound(f"no form '{form}'{did_you_mean(form, registry.forms)} in {root / 'forms'}")
    spec = found.printouts.get(name)
    if spec is None and not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise Invalid(f"'{name}' is not a valid printout name; use lower-case letters, digits and _")
    declared = spec is not None
    spec = spec or {"title": title or found.title, "template": f"{form}_{name}.docx"}
    path = root / "printouts" / spec["template"]
    users = [wf for wf in registry.workflows.values() if wf.form.id == found.id]
    scaffold.write(path, found, users, name, spec)
    template = load(path)
    problems = lint(template, context_keys(found, users))
    problems += rehearse(template, users[0], registry.site, name, spec) if users and not problems else []
    out = {"form": form, "printout": name, "file": str(path), "problems": [m for _, m in problems]}
    if not declared:
        out["declare"] = (f"add to forms/{form}.yaml under `printouts:`  {name}: {{title: {spec['title']}, "
                          f"template: {spec['template']}}}")
    _out(out)


@main.command()
@click.argument("workflow")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the .svg.")
@click.pass_context
def graph(ctx: click.Context, workflow: str, output: str) -> None:
    """Draw a workflow's step graph as SVG (steps in layers from the start; loops dashed).

    \b
    Example:
      goldkey graph key_lending -o key_lending.svg
    """
    from . import graph as drawing

    registry = definitions.load_strict(ctx.obj["defs"])
    Path(output).write_text(drawing.svg(registry.workflow(workflow)), encoding="utf-8")
    _out({"workflow": workflow, "file": output})


@main.group()
def calendar() -> None:
    """The business calendar of goldkey.yaml: working days, holidays, make-up days (調休)."""


@calendar.command("due")
@click.argument("start")
@click.argument("duration")
@click.pass_context
def calendar_due(ctx: click.Context, start: str, duration: str) -> None:
    """When is something started at START with limit DURATION due? A START without a zone is local time.

    \b
    Example:
      goldkey calendar due 2026-09-30T16:00 "3 working days"
      goldkey calendar due now "4 working hours"
    """
    from .deadlines import due_report

    registry = definitions.load_strict(ctx.obj["defs"])
    moment = datetime.now(UTC) if start == "now" else _parse_local(start, registry.site.tz)
    _out(due_report(registry.site.calendar, moment, duration))


@calendar.command("days")
@click.argument("first")
@click.argument("last")
@click.pass_context
def calendar_days(ctx: click.Context, first: str, last: str) -> None:
    """List the days from FIRST to LAST that differ from the usual week: holidays and make-up working days.

    \b
    Example:
      goldkey calendar days 2026-09-20 2026-10-11
    """
    registry = definitions.load_strict(ctx.obj["defs"])
    cal = registry.site.calendar
    start, end = _parse_day(first, "FIRST"), _parse_day(last, "LAST")
    if (end - start).days > 3660:
        raise Invalid("at most ten years at a time")
    out = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        working, why = cal.day(day)
        if why:
            out.append({"date": day.isoformat(), "weekday": day.strftime("%a"), "working": working, "name": why,
                        "estimated": cal.estimated(day.year)})
    _out(out)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Create one user per role (passwords printed) and a few instances.")
@click.option("--sites", "demo_sites", default=0, type=click.IntRange(0, 10), show_default=True,
              help="With --demo: a demo company of this many sites, one user per role at each.")
@click.option("--tick", "tick_seconds", default=30.0, show_default=True, type=float,
              help="Seconds between the server's own ticks (deadlines, schedules); 0 to leave it to cron.")
@click.option("--https", is_flag=True,
              help="Served to browsers over HTTPS (by a proxy in front): the session cookie is sent only over HTTPS "
                   "and browsers are told to use nothing else (Strict-Transport-Security).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes on the one port (each with its own engine; on PostgreSQL, or SQLite on one "
                   "machine). Sessions, reloads and ticks work across them.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, demo: bool, demo_sites: int, tick_seconds: float,
          https: bool, workers: int) -> None:
    """Run the web UI and JSON API on the SQLite database (--db).

    \b
    Example:
      goldkey serve --demo           # then open http://127.0.0.1:8000
      goldkey --db postgresql://localhost/goldkey serve --demo --sites 3   # a demo company of three sites
      goldkey --db /srv/gk.db serve --host 0.0.0.0 --port 8080
      goldkey --db /srv/gk.db serve --port 8080 --https   # behind an HTTPS proxy
      goldkey --db postgresql://goldkey@db/goldkey serve --workers 4 --host 0.0.0.0
    """
    import uvicorn

    from server.app import create_app

    registry = definitions.load_strict(ctx.obj["defs"])
    if demo:
        from server.demo import seed

        for line in seed(ctx.obj["db"], registry, demo_sites):
            click.echo(line)
    if workers > 1:
        from server.workers import serve as serve_workers

        serve_workers(host, port, workers, ctx.obj["db"], ctx.obj["defs"], tick_seconds, https)
        return
    app = create_app(ctx.obj["db"], registry, tick_seconds=tick_seconds, https=https)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)


@main.command()
@click.argument("workflow")
@click.pass_context
def simulate(ctx: click.Context, workflow: str) -> None:
    """Walk every path of WORKFLOW with the pure core; exit 1 if a path cannot end.

    \b
    Example:
      goldkey simulate key_lending
    """
    from .simulate import simulate as run_simulation

    registry = definitions.load_strict(ctx.obj["defs"])
    report = run_simulation(registry.workflow(workflow), registry)
    _out(report)
    if report["stuck"]:
        sys.exit(1)


@main.group("db")
def db_group() -> None:
    """The database: its schema, and copying it whole into another."""


@db_group.command("migrate")
@click.pass_context
def db_migrate(ctx: click.Context) -> None:
    """Create or update the schema of the database (--db); every command does this on first use, this one only.

    \b
    Example:
      goldkey --db postgresql://goldkey@db.example/goldkey db migrate
      goldkey db migrate                     # ./goldkey.db
    """
    from .database import migrate

    _out(migrate(ctx.obj["db"]))


@db_group.command("copy")
@click.argument("source")
@click.argument("target")
@click.option("--site", help="SOURCE is one site's database: it becomes this site of TARGET (with --title).")
@click.option("--title", help="With --site: the site's name, e.g. 意林小鎮管理處.")
@click.option("--prefix", help="With --site: the prefix of the site's new document numbers, e.g. YL.")
@click.option("--same-users", is_flag=True,
              help="With --site into a TARGET with users: names both hold are the same people (TARGET's passwords).")
def db_copy(source: str, target: str, site: str | None, title: str | None, prefix: str | None,
            same_users: bool) -> None:
    """Copy the whole database SOURCE into the empty database TARGET (SQLite files or postgresql:// URLs);
    every audit chain, row count and ledger balance is checked on the copy. A TARGET that holds data is refused,
    except with --site: SOURCE then joins it as one more site, its instances under new ids (their audit chains
    computed again; the old id and chain head are kept in copied_instances).

    \b
    Example:
      goldkey db copy goldkey.db postgresql://goldkey@db.example/goldkey
      goldkey db copy postgresql://goldkey@db.example/goldkey backup.db
      goldkey db copy yilin.db postgresql://goldkey@db/goldkey --site yilin --title 意林小鎮管理處 --prefix YL
    """
    from .database import copy

    _out(copy(source, target, site, title, prefix, same_users))


@main.command()
@click.pass_context
def audit(ctx: click.Context) -> None:
    """Verify the hash chains of the event log: every instance's and every record's.

    \b
    Example:
      goldkey audit
    """
    report = _engine(ctx).audit()
    _out(report)
    if not report["ok"]:
        sys.exit(1)


main.add_command(records)
main.add_command(report)
main.add_command(migrate)
main.add_command(reads)
main.add_command(retention)

if __name__ == "__main__":  # python -m engine.cli
    main()
