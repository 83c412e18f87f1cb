"""`goldkey reads` and `goldkey retention`: the log of confidential reads, and personal data past its retention."""

from __future__ import annotations

import click

from .cliutil import engine_of, out


@click.command()
@click.option("--as", "user", required=True, help="Who asks (an administrator: goldkey.yaml's admin_roles).")
@click.option("--user", "reader", help="Only the reads of this user.")
@click.option("--from", "since", help="From this time (ISO, UTC), e.g. 2026-11-01.")
@click.option("--to", "until", help="Before this time (ISO, UTC).")
@click.option("--limit", default=500, type=click.IntRange(1, 100000), show_default=True)
@click.pass_context
def reads(ctx: click.Context, user: str, reader: str | None, since: str | None, until: str | None,
          limit: int) -> None:
    """List who read which confidential fields of which instance, record or report, when and how; newest first.

    \b
    Example:
      goldkey reads --as jing
      goldkey reads --as jing --user wang --from 2026-11-01
    """
    out(engine_of(ctx).confidential_reads(user, reader, since, until, limit))


@click.command()
@click.option("--apply", is_flag=True, help="Remove the expired personal data (default: only list it).")
@click.option("--as", "user", help="Who removes it (recorded on each tombstone).")
@click.pass_context
def retention(ctx: click.Context, apply: bool, user: str | None) -> None:
    """List the personal data kept past its form's `retention:` (instances ended longer ago); with --apply remove it
    from the instances and their events, each changed event keeping a tombstone so `goldkey audit` still verifies.

    \b
    Example:
      goldkey retention
      goldkey retention --apply --as jing
    """
    out(engine_of(ctx).retention(apply, user))
