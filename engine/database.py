"""Whole databases: `goldkey db migrate` (the schema of one) and `goldkey db copy SOURCE TARGET` (a whole database
into another: a site's SQLite file into the company's PostgreSQL, or back into a file), verified after the copy.

Both are brought to the same migrations first; every table's rows then go across in one transaction of the
target, under their own keys, so a row the target already holds refuses the copy whole (nothing is written).
The target may hold only what its own migrations wrote (its secrets and default site, replaced by the source's, so
that printed verification codes and sessions stay valid). After the copy: every audit chain is verified on the
target, each table has the source's number of rows, every ledger's balance is the source's, and the target's
counters are moved past the copied ids."""

from __future__ import annotations

from pathlib import Path

from . import sites
from .errors import Conflict, Invalid, NotFound
from .store import COMPANY, DEFAULT_SITE, Store, is_postgres, open_store

BATCH = 1000
# not copied as rows: the migrations the target applied itself; the rows its migrations made (its secrets, its
# default site), which the source's replace; the attachments' bytes, which each store keeps its own way (files
# beside an SQLite file)
_REPLACED = ("settings", "sites")
_NOT_ROWS = {"migrations", "attachment_bytes", *_REPLACED}


def migrate(url: str) -> dict:
    """Create or update the schema of the database at `url`: the migrations it applied now, and all it has."""
    store = open_store(url)
    try:
        return {"applied": store.applied, "migrations": store.migrations()}
    finally:
        store.close()


def copy(source: str, target: str, site: str | None = None, title: str | None = None,
         number_prefix: str | None = None) -> dict:
    """Copy `source` into `target` (a file path or a postgresql:// URL); a report of what went across. `site`: the
    source is one site's database, which becomes that site of the target (its instances, the roles granted there,
    its number series), titled `title`, its new numbers prefixed with `number_prefix`."""
    if source == target:
        raise Invalid("來源與目標是同一個資料庫")
    if not is_postgres(source) and not Path(source).is_file():
        raise NotFound(f"沒有來源資料庫 {source}")
    src = open_store(source)
    try:
        if site is not None:
            sites.check(site, title, number_prefix)
        if site is not None and [s["id"] for s in src.sites()] != [DEFAULT_SITE]:
            raise Invalid("來源資料庫已分成多個管理處，不能整個當成一個管理處複製")
        dst = open_store(target)
        try:
            return _copy(src, dst, site and (site, title, number_prefix))
        finally:
            dst.close()
    finally:
        src.close()


def _copy(src: Store, dst: Store, as_site: tuple | None = None) -> dict:
    ok, events, problem = src.verify_chain()
    if not ok:
        raise Invalid(f"來源資料庫的稽核鏈不完整，未複製：{problem}")
    tables = [t for t in src.table_names() if t not in _NOT_ROWS]
    missing = sorted(set(tables) - set(dst.table_names()))
    if missing:
        raise Invalid(f"目標資料庫缺少資料表 {'、'.join(missing)}：請先以相同版本的 goldkey 更新它")
    held = [t for t in tables if dst.conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()]
    if held:
        raise Conflict(f"目標資料庫已有資料（{'、'.join(held)}），不會覆蓋；請複製到一個空的資料庫")
    counts: dict[str, int] = {}
    with dst.write():
        for table in tables:
            columns = src.columns(table)
            names = ", ".join(f'"{c}"' for c in columns)
            insert = f"INSERT INTO {table} ({names}) VALUES ({','.join('?' * len(columns))})"
            batch, count = [], 0
            for row in src.table_rows(table):
                batch.append(tuple(row))
                if len(batch) == BATCH:
                    dst.conn.executemany(insert, batch)
                    count, batch = count + len(batch), []
            if batch:
                dst.conn.executemany(insert, batch)
                count += len(batch)
            counts[table] = count
        for table in _REPLACED:
            columns = src.columns(table)
            dst.conn.execute(f"DELETE FROM {table}")
            dst.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                 f"({','.join('?' * len(columns))})", [tuple(r) for r in src.table_rows(table)])
        for (digest,) in src.conn.execute("SELECT id FROM attachments").fetchall():
            body = src.attachment_bytes(digest)
            if body is not None:
                dst.put_bytes(digest, body)
        if as_site:
            _as_site(dst, *as_site)
        dst.after_copy()
    return dict(_verify(src, dst, counts, events), site=as_site[0] if as_site else None)


def _as_site(dst: Store, site: str, title: str | None, number_prefix: str | None) -> None:
    """What was the source's single site becomes `site` of the target."""
    dst.conn.execute("INSERT INTO sites (id, title, number_prefix) VALUES (?,?,?)", (site, title, number_prefix))
    dst.conn.execute("UPDATE instances SET site=? WHERE site=?", (site, DEFAULT_SITE))
    dst.conn.execute("UPDATE user_roles SET site=? WHERE site IN (?, ?)", (site, COMPANY, DEFAULT_SITE))
    counters = dst.conn.execute("SELECT series, year, last FROM counters").fetchall()
    dst.conn.execute("DELETE FROM counters")
    dst.conn.executemany("INSERT INTO counters VALUES (?,?,?)",
                         [(sites.series(site, s), y, n) for s, y, n in counters])


def _verify(src: Store, dst: Store, counts: dict[str, int], events: int) -> dict:
    ok, copied, problem = dst.verify_chain()
    if not ok or copied != events:
        raise Invalid(f"複製後目標的稽核鏈不符：{problem or f'{copied} / {events} 個事件'}")
    for table, count in counts.items():
        there = dst.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if there != count:
            raise Invalid(f"複製後資料表 {table} 有 {there} 列，來源有 {count} 列")
    balances = {s: _balances(s) for s in (src, dst)}
    if balances[src] != balances[dst]:
        raise Invalid("複製後台帳餘額與來源不符")
    return {"tables": counts, "events": events, "audit": "ok", "ledgers": len(balances[dst])}


def _balances(store: Store) -> dict[tuple, int]:
    """The sum of every ledger of every instance, and its last recorded balance."""
    rows = store.conn.execute("SELECT workflow, ledger, instance_id, sum(amount), max(id) FROM ledger_entries "
                              "GROUP BY workflow, ledger, instance_id").fetchall()
    last = dict(store.conn.execute("SELECT id, balance FROM ledger_entries").fetchall())
    return {(w, ledger, i): (int(total), last[top]) for w, ledger, i, total, top in rows}
