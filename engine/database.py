"""Whole databases: `goldkey db migrate` (the schema of one) and `goldkey db copy SOURCE TARGET` (a whole database
into another: a site's SQLite file into the company's PostgreSQL, or back into a file), verified after the copy.

Both are brought to the same migrations first; every table's rows then go across in one transaction of the
target (all of it or nothing). Into an empty target, rows keep their own keys: the target may hold only what its
own migrations wrote (its secrets and default site, replaced by the source's, so that printed verification codes
and sessions stay valid). Into a target that already holds other sites, `--site` merges the source in as one more
site (`_merge`): its instances get the target's next ids, their chains are computed again (engine/renumber.py),
users the two share are refused unless said to be the same people. After the copy: every audit chain is verified
on the target, the copied rows are counted, every ledger's balance is the source's, and the target's counters are
moved past the copied ids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path

from . import renumber, sites
from .deadlines import iso
from .errors import Conflict, Invalid, NotFound
from .jsontext import dumps, loads
from .store import COMPANY, DEFAULT_SITE, GENESIS, Store, is_postgres, open_store, shown_url, task_key

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
         number_prefix: str | None = None, same_users: bool = False) -> dict:
    """Copy `source` into `target` (a file path or a postgresql:// URL); a report of what went across. `site`: the
    source is one site's database, which becomes that site of the target (its instances, the roles granted there,
    its number series), titled `title`, its new numbers prefixed with `number_prefix`; the target may then hold
    other sites already. `same_users`: user names both hold are the same people (the target's passwords stay)."""
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
            if site is not None and _held(src, dst):
                return _merge(src, dst, site, title, number_prefix, same_users)
            return _copy(src, dst, site and (site, title, number_prefix))
        finally:
            dst.close()
    finally:
        src.close()


def _held(src: Store, dst: Store) -> list[str]:
    """The tables of the source's the target already holds rows in."""
    return [t for t in _tables(src, dst) if dst.conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()]


def _tables(src: Store, dst: Store) -> list[str]:
    tables = [t for t in src.table_names() if t not in _NOT_ROWS]
    missing = sorted(set(tables) - set(dst.table_names()))
    if missing:
        raise Invalid(f"目標資料庫缺少資料表 {'、'.join(missing)}：請先以相同版本的 goldkey 更新它")
    return tables


def _verified(src: Store) -> int:
    """The source's events, its every chain (instances' and records') verified first."""
    ok, events, problem = src.verify_chain()
    if not ok:
        raise Invalid(f"來源資料庫的稽核鏈不完整，未複製：{problem}")
    _verified_records(src, "來源資料庫（未複製）")
    return events


def _copy(src: Store, dst: Store, as_site: tuple | None = None) -> dict:
    events = _verified(src)
    tables = _tables(src, dst)
    held = _held(src, dst)
    if held:
        raise Conflict(f"目標資料庫已有資料（{'、'.join(held)}），不會覆蓋；請複製到一個空的資料庫，"
                       "或以 --site 把來源當成目標的一個新管理處加入")
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
        _bytes(src, dst)
        if as_site:
            _as_site(dst, *as_site)
        dst.after_copy()
    return dict(_verify(src, dst, counts, events), site=as_site[0] if as_site else None)


def _as_site(dst: Store, site: str, title: str | None, number_prefix: str | None) -> None:
    """What was the source's single site becomes `site` of the target."""
    dst.conn.execute("INSERT INTO sites (id, title, number_prefix) VALUES (?,?,?)", (site, title, number_prefix))
    dst.conn.execute("UPDATE instances SET site=? WHERE site=?", (site, DEFAULT_SITE))
    dst.conn.execute("UPDATE records SET site=? WHERE site=?", (site, DEFAULT_SITE))
    dst.conn.execute("UPDATE user_roles SET site=? WHERE site IN (?, ?)", (site, COMPANY, DEFAULT_SITE))
    counters = dst.conn.execute("SELECT series, year, last FROM counters").fetchall()
    dst.conn.execute("DELETE FROM counters")
    dst.conn.executemany("INSERT INTO counters VALUES (?,?,?)",
                         [(sites.series(site, s), y, n) for s, y, n in counters])
    for table in ("schedules", "schedule_runs"):
        rows = dst.conn.execute(f"SELECT DISTINCT key FROM {table}").fetchall()
        dst.conn.executemany(f"UPDATE {table} SET key=? WHERE key=?",
                             [(sites.schedule_key(site, k), k) for (k,) in rows])


def _bytes(src: Store, dst: Store) -> None:
    """The attachments' bytes, each store keeping them its own way."""
    for (digest,) in src.conn.execute("SELECT id FROM attachments").fetchall():
        body = src.attachment_bytes(digest)
        if body is not None:
            dst.put_bytes(digest, body)


def _verified_records(store: Store, what: str) -> int:
    """The records' events of `store`, every record's chain verified."""
    ok, events, problem = store.verify_records()
    if not ok:
        raise Invalid(f"{what}的資料稽核鏈不完整：{problem}")
    return events


def _verify(src: Store, dst: Store, counts: dict[str, int], events: int) -> dict:
    ok, copied, problem = dst.verify_chain()
    if not ok or copied != events:
        raise Invalid(f"複製後目標的稽核鏈不符：{problem or f'{copied} / {events} 個事件'}")
    _verified_records(dst, "複製後目標")
    for table, count in counts.items():
        there = dst.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if there != count:
            raise Invalid(f"複製後資料表 {table} 有 {there} 列，來源有 {count} 列")
    balances = {s: _balances(s) for s in (src, dst)}
    if balances[src] != balances[dst]:
        raise Invalid("複製後台帳餘額與來源不符")
    return {"tables": counts, "events": events, "audit": "ok", "ledgers": len(balances[dst])}


def _balances(store: Store, span: tuple[int, int] = (0, 1 << 62)) -> dict[tuple, int]:
    """The sum of every ledger of every instance (with an id in `span`), and its last recorded balance."""
    rows = store.conn.execute("SELECT workflow, ledger, instance_id, sum(amount), max(id) FROM ledger_entries "
                              "WHERE instance_id BETWEEN ? AND ? GROUP BY workflow, ledger, instance_id",
                              span).fetchall()
    last = dict(store.conn.execute("SELECT id, balance FROM ledger_entries WHERE instance_id BETWEEN ? AND ?",
                                   span).fetchall())
    return {(w, ledger, i): (int(total), last[top]) for w, ledger, i, total, top in rows}


# --- one site's database into a company's that holds others -------------------------------------------------------
class _Merge:
    """What the rows of one table need to join the target: each row (a dict of its columns) is rewritten, or left
    out (None); `drop`: a column the target numbers itself; `keep_held`: a row whose key the target already holds
    is the same thing (a definition's version, an attachment by its hash, a shared user) and stays the target's."""

    def __init__(self, rewrite: Callable[[dict], dict | None] | None = None, drop: str | None = None,
                 keep_held: bool = False) -> None:
        self.rewrite, self.drop, self.keep_held = rewrite or (lambda row: row), drop, keep_held


def _rules(site: str, ids: renumber.Ids, heads: dict[int, str]) -> dict[str, _Merge]:
    """Every table a site's rows are in, and how they join the target. A table not named here refuses the merge,
    so a migration adding a table says here how its rows move (tests/test_dbcopy.py holds every table to it)."""
    iid = lambda old: None if old is None else ids[old]  # noqa: E731

    def instance(row: dict) -> dict:
        return dict(row, id=ids[row["id"]], parent_id=iid(row["parent_id"]), site=site, head=heads[row["id"]],
                    state=dumps(renumber.state(loads(row["state"]), ids)))

    def of_event(row: dict) -> dict:  # (a ledger entry, a notification: the event that made it, its task)
        row = dict(row, instance_id=ids[row["instance_id"]])
        if row["event_id"] is not None:
            row["event_id"] = renumber.event_key(row["event_id"], ids)
        if "task" in row:
            row["task"] = renumber.task(row["task"], ids)
        return row

    return {
        "versions": _Merge(keep_held=True),
        "instances": _Merge(instance),
        "events": _Merge(),  # (rechained by _events)
        "tasks": _Merge(lambda row: dict(row, key=task_key(renumber.task(row["id"], ids)),
                                         id=renumber.task(row["id"], ids), instance_id=ids[row["instance_id"]])),
        "ledger_entries": _Merge(of_event, drop="id"),
        "notifications": _Merge(of_event, drop="id"),
        "counters": _Merge(lambda row: dict(row, series=sites.series(site, row["series"]))),
        "users": _Merge(keep_held=True),
        "user_roles": _Merge(lambda row: dict(row, site=site), keep_held=True),
        "delegations": _Merge(drop="id"),
        "schedules": _Merge(lambda row: dict(row, key=sites.schedule_key(site, row["key"]))),
        "schedule_runs": _Merge(lambda row: dict(row, key=sites.schedule_key(site, row["key"]),
                                                 instance_id=iid(row["instance_id"]))),
        "prints": _Merge(lambda row: dict(row, instance_id=ids[row["instance_id"]])),
        "tokens": _Merge(),
        "sessions": _Merge(lambda row: None),  # signed with the source's secret: its users sign in again
        "attachments": _Merge(keep_held=True),
        "attachment_uploads": _Merge(keep_held=True),
        "attachment_refs": _Merge(lambda row: dict(row, instance_id=ids[row["instance_id"]])),
        "copied_instances": _Merge(lambda row: dict(row, instance_id=ids[row["instance_id"]])),
        # a record's chain is named by its uid, not its id or site: it verifies wherever the record goes
        "records": _Merge(lambda row: dict(row, site=site), drop="id"),
        "record_events": _Merge(drop="id"),
        "confidential_reads": _Merge(lambda row: dict(row, ref=str(ids[int(row["ref"])])) if row["kind"] == "instance"
                                     else row, drop="id"),
        # (the tombstoned events are chained again over what they hold now: their old hash is kept for the record)
        "event_tombstones": _Merge(lambda row: dict(row, event_id=renumber.event_key(row["event_id"], ids),
                                                    instance_id=ids[row["instance_id"]])),
    }


def _merge(src: Store, dst: Store, site: str, title: str | None, number_prefix: str | None,
           same_users: bool) -> dict:
    events = _verified(src)
    tables = _tables(src, dst)
    unknown = sorted(set(tables) - set(_rules(site, {}, {})))
    if unknown:
        raise Invalid(f"這個版本的 goldkey 不會把資料表 {'、'.join(unknown)} 併入已有資料的資料庫；"
                      "請複製到一個空的資料庫")
    if site in {s["id"] for s in dst.sites()}:
        raise Conflict(f"目標資料庫已有管理處 {site}，不會覆蓋；請換一個管理處代號")
    shared = sorted({n for (n,) in src.conn.execute("SELECT name FROM users")}
                    & {n for (n,) in dst.conn.execute("SELECT name FROM users")})
    if shared and not same_users:
        raise Conflict(f"兩個資料庫都有帳號 {'、'.join(shared)}：若是同一人，請加上 --same-users "
                       "（沿用目標的密碼，角色加在這個管理處）；若不是，請先在來源改名")
    for table, key in (("versions", "version"), ("tokens", "hash"), ("prints", "code")):
        _refuse_clashes(src, dst, table, key, same_content=table == "versions")
    now = iso(datetime.now(UTC))
    source_ids = [i for (i,) in src.conn.execute("SELECT id FROM instances ORDER BY id")]
    copied: dict[str, int] = {}
    with dst.write():
        dst.conn.execute("INSERT INTO sites (id, title, number_prefix, created_at) VALUES (?,?,?,?)",
                         (site, title, number_prefix, now))
        ids = {old: dst.next_instance_id() for old in source_ids}
        heads = _events(src, dst, ids)
        copied["events"] = events
        rules = _rules(site, ids, heads)
        for table in tables:
            if table != "events":
                copied[table] = _rows(src, dst, table, rules[table])
        dst.conn.executemany("INSERT INTO copied_instances VALUES (?,?,?,?,?,?)",
                             [(ids[i], shown_url(src.url), i, head, n, now) for i, n, head in
                              src.conn.execute("SELECT id, events, head FROM instances ORDER BY id")])
        secret = src.setting("verify_secret")
        dst.conn.execute("INSERT INTO settings VALUES (?, ?)", (f"verify_secret:{site}", secret))
        _bytes(src, dst)
        dst.after_copy()
    return dict(_verify_merged(src, dst, ids, copied, events), site=site, shared_users=shared)


def _refuse_clashes(src: Store, dst: Store, table: str, key: str, same_content: bool) -> None:
    """Keys the source and the target both hold in `table`: the same thing (`same_content`, a definition's version
    is its files' hash) or a refusal."""
    theirs = {k for (k,) in dst.conn.execute(f"SELECT {key} FROM {table}")}
    clash = [k for (k,) in src.conn.execute(f"SELECT {key} FROM {table}") if k in theirs]
    if clash and not same_content:
        raise Conflict(f"目標資料庫的 {table} 已有來源的 {len(clash)} 列，不會覆蓋；未複製")


def _events(src: Store, dst: Store, ids: renumber.Ids) -> dict[int, str]:
    """Every source instance's events under its new id, chained again; each instance's new chain head."""
    heads: dict[int, str] = {}
    insert = "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    rows = src.conn.execute("SELECT instance_id, seq, at, actor, acting_for, step, task, type, payload FROM events "
                            "ORDER BY id")
    batch: list[tuple] = []
    for iid, events in groupby(rows, key=lambda r: r[0]):
        chained, heads[iid] = renumber.rechain(events, ids)
        batch += chained
        if len(batch) >= BATCH:
            dst.conn.executemany(insert, batch)
            batch = []
    if batch:
        dst.conn.executemany(insert, batch)
    for iid in ids:
        heads.setdefault(iid, GENESIS)
    return heads


def _rows(src: Store, dst: Store, table: str, rule: _Merge) -> int:
    """The table's rows of the source, rewritten by `rule`, into the target; how many were the source's."""
    every = src.columns(table)
    columns = [c for c in every if c != rule.drop]
    names = ", ".join(f'"{c}"' for c in columns)
    insert = (f"INSERT INTO {table} ({names}) VALUES ({','.join('?' * len(columns))})"
              + (" ON CONFLICT DO NOTHING" if rule.keep_held else ""))
    count, batch = 0, []
    for values in src.table_rows(table):
        count += 1
        row = rule.rewrite(dict(zip(every, values, strict=True)))
        if row is not None:
            batch.append(tuple(row[c] for c in columns))
        if len(batch) == BATCH:
            dst.conn.executemany(insert, batch)
            batch = []
    if batch:
        dst.conn.executemany(insert, batch)
    return count


def _verify_merged(src: Store, dst: Store, ids: renumber.Ids, copied: dict[str, int], events: int) -> dict:
    """The whole target's chains; the copied instances hold the source's events and balances under their new ids."""
    ok, _, problem = dst.verify_chain()
    if not ok:
        raise Invalid(f"複製後目標的稽核鏈不符：{problem}")
    _verified_records(dst, "複製後目標")
    mine = set(ids.values())
    span = (min(mine), max(mine)) if mine else (0, -1)
    there = sum(n for i, n in dst.conn.execute("SELECT id, events FROM instances WHERE id BETWEEN ? AND ?", span)
                if i in mine)
    if there != events:
        raise Invalid(f"複製後目標有 {there} 個事件，來源有 {events} 個")
    moved = {(w, ledger, ids[i]): v for (w, ledger, i), v in _balances(src).items()}
    if {k: v for k, v in _balances(dst, span).items() if k[2] in mine} != moved:
        raise Invalid("複製後台帳餘額與來源不符")
    return {"tables": copied, "events": events, "audit": "ok", "ledgers": len(moved),
            "instances": {str(old): new for old, new in ids.items()}}
