"""Records for the Engine: who may read and edit each record type at which site, and the commands (add, edit, move,
import, a step's `update:`) and views (lists, a record with its history, lookups for forms). Every change is one
event in the record's hash chain (engine/recordstore.py), written in one transaction; an error changes nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from . import access, signatures
from .core import Actor, iso
from .errors import Conflict, Forbidden, Invalid, NotFound
from .inputs import check_input
from .jsontext import dumps, loads
from .model import Registry, Workflow
from .records import RecordType, changes
from .store import DEFAULT_SITE

PER_PAGE = 50
IMPORT_BATCH = 200  # rows written between two progress reports of an import
LOOKUP_LIMIT = 10


class Records:
    """Record types and records, for the Engine (which provides `store`, `registry`, `clock`, actors and sites)."""

    registry: Registry
    store: object
    clock: Callable[[], datetime]

    # --- who may do what -------------------------------------------------------------------------------
    def _lookup_roles(self, rt: RecordType) -> set[str]:
        """Roles that may look records of `rt` up: those of the workflows whose forms have a lookup of it."""
        cache = getattr(self, "_lookups_cache", None)
        if cache is None or cache[0] is not self.registry:
            found: dict[str, set[str]] = {}
            for wf in self.registry.workflows.values():
                for ref in wf.form.refs.values():
                    found.setdefault(ref.record, set()).update(wf.viewer_roles)
            for other in self.registry.records.values():
                for ref in other.form.refs.values():
                    found.setdefault(ref.record, set()).update(other.editors)
            cache = self._lookups_cache = (self.registry, found)
        return cache[1].get(rt.id, set())

    @staticmethod
    def _reads(actor: Actor, rt: RecordType) -> bool:
        return bool(actor.every_role & (set(rt.readers) | set(rt.editors)))

    @staticmethod
    def _edits(actor: Actor, rt: RecordType) -> bool:
        return bool(actor.every_role & set(rt.editors))

    def _record_sites(self, user: str, rt: RecordType, may: Callable[[Actor, RecordType], bool]) -> dict[str, Actor]:
        """The sites where `user` may (`may`) work with records of `rt`, each with the user's actor there."""
        return {s: a for s, a in self.actors_by_site(user).items() if may(a, rt)}

    def _site_for(self, user: str, rt: RecordType, site: str | None) -> tuple[str, Actor]:
        """The site a new record goes to: `site`, or the one where the user may edit records of `rt`."""
        editing = self._record_sites(user, rt, self._edits)
        if site is not None:
            if site not in self.site_titles():
                raise NotFound(f"沒有管理處「{site}」")
            if site not in editing:
                raise Forbidden(f"使用者「{user}」不能在這個管理處新增或修改{rt.title}資料"
                                f"（需要角色：{self.registry.site.role_titles(rt.editors)}）")
            return site, editing[site]
        if not editing:
            raise Forbidden(f"使用者「{user}」不能新增或修改{rt.title}資料"
                            f"（需要角色：{self.registry.site.role_titles(rt.editors)}）")
        choices = [s for s in editing if s != DEFAULT_SITE or len(self.site_titles()) == 1]
        if len(choices) != 1:
            titles = "、".join(self.site_titles()[s] for s in choices)
            raise Invalid(f"請選擇哪個管理處的{rt.title}：{titles}", [{"field": "site", "message": "請選擇管理處"}])
        return choices[0], editing[choices[0]]

    # --- views ---------------------------------------------------------------------------------------------
    def record_types(self, user: str) -> list[dict]:
        """The record types `user` may read at some site, with whether they may also add and edit them."""
        out = []
        for rt in sorted(self.registry.records.values(), key=lambda r: r.id):
            reading = self._record_sites(user, rt, self._reads)
            if reading:
                out.append({"id": rt.id, "title": rt.title, "description": rt.description,
                            "may_edit": any(self._edits(a, rt) for a in reading.values())})
        return out

    def record_type(self, type_id: str) -> RecordType:
        return self.registry.record(type_id)

    def _log_record_reads(self, user: str, rt: RecordType, shown: list[dict], via: str) -> None:
        """A read of the confidential fields each shown record let `user` see."""
        secret = set(rt.form.confidential.get("fields", ())) if rt.form.confidential else set()
        if secret:
            self.log_reads(user, [("record", f"{rt.id}/{r['id']}", r["key"],
                                   [f for f in secret - set(r["hidden"]) if r["data"].get(f) not in (None, "")])
                                  for r in shown], via)

    def records(self, type_id: str, user: str, search: str = "", state: str = "", page: int = 1,
                per_page: int = PER_PAGE, via: str = "page") -> dict:
        """The records of a type `user` may read: {type, rows, total, states, may_edit}; confidential fields
        masked where the user may not read them."""
        rt = self.registry.record(type_id)
        reading = self._readable(user, rt)
        sites = None if set(reading) >= set(self.site_titles()) else sorted(reading)
        rows, total = self.store.record_rows(rt.id, sites, search[:100], state, page, per_page)
        shown = [self._shown(rt, row, reading[row["site"]]) for row in rows]
        self._log_record_reads(user, rt, shown, via)
        return {"type": rt, "rows": shown, "total": total,
                "states": self.store.record_states(rt.id, sites) if rt.states else {},
                "may_edit": any(self._edits(a, rt) for a in reading.values())}

    def _readable(self, user: str, rt: RecordType) -> dict[str, Actor]:
        reading = self._record_sites(user, rt, self._reads)
        if not reading:
            raise Forbidden(f"使用者「{user}」不能查看{rt.title}資料"
                            f"（需要角色：{self.registry.site.role_titles(rt.readers or rt.editors)}）")
        return reading

    def _shown(self, rt: RecordType, row: dict, actor: Actor) -> dict:
        hidden = rt.form.hidden_from(actor.every_role)
        return {"id": row["id"], "key": row["key"], "state": row["state"], "site": row["site"],
                "data": access.mask(row["data"], hidden), "revision": row["revision"],
                "updated_at": row["updated_at"], "updated_by": row["updated_by"], "hidden": sorted(hidden)}

    def record(self, type_id: str, record_id: int | str, user: str, via: str = "page") -> dict:
        """One record as `user` may see it, with its history (who changed what, when) and the moves it may make."""
        rt = self.registry.record(type_id)
        row = self._record_row(rt, record_id)
        reading = self._readable(user, rt)
        actor = reading.get(row["site"])
        if actor is None:
            raise Forbidden(f"使用者「{user}」不能查看這個管理處的{rt.title}資料")
        view = self._shown(rt, row, actor)
        self._log_record_reads(user, rt, [view], via)
        hidden = set(view["hidden"])
        history = []
        for event in self.store.record_events(row["uid"]):
            payload = dict(event["payload"])
            if isinstance(payload.get("data"), dict):
                payload["data"] = access.mask(payload["data"], hidden)
            if isinstance(payload.get("changes"), dict):
                payload["changes"] = {k: ["（保密）", "（保密）"] if k in hidden else v
                                      for k, v in payload["changes"].items()}
            history.append(dict(event, payload=payload))
        editing = self._edits(actor, rt)
        return dict(view, type=rt.id, title=rt.title, history=history, may_edit=editing,
                    moves=list(rt.targets(row["state"])) if editing else [], created_at=row["created_at"],
                    created_by=row["created_by"])

    def record_id(self, type_id: str, given: str, user: str) -> int | str:
        """The id of the record of a type whose key is `given` among those `user` may read (else `given` itself,
        taken for an id)."""
        rt = self.registry.record(type_id)
        sites = sorted(self._readable(user, rt))
        found = [r for r in self.store.record_rows(rt.id, sites, given, "", 1, 50)[0] if r["key"] == given.strip()]
        if len(found) > 1:
            titles = self.site_titles()
            raise Invalid(f"{len(found)} 個管理處都有{rt.label(given)}（{'、'.join(titles[r['site']] for r in found)}）"
                          "：請用它的編號")
        return found[0]["id"] if found else given

    def _record_row(self, rt: RecordType, record_id: int | str) -> dict:
        text = str(record_id).strip()
        row = self.store.record_row(int(text)) if text.isdigit() and len(text) < 18 else None
        if row is None or row["type"] != rt.id:
            raise NotFound(f"沒有這筆{rt.title}資料（{record_id}）")
        return row

    def lookup(self, type_id: str, user: str, search: str, site: str | None = None,
               limit: int = LOOKUP_LIMIT) -> list[dict]:
        """Records of a type matching `search` for a form's lookup field, as {key, label, state, data} with the
        fields `user` may read; for anyone who may read the type or use a form that looks it up."""
        rt = self.registry.record(type_id)
        roles = set(rt.readers) | set(rt.editors) | self._lookup_roles(rt)
        actors = {site: self.actor(user, self.clock(), site)} if site else self.actors_by_site(user)
        actors = {s: a for s, a in actors.items() if a.every_role & roles}
        if not actors:
            raise Forbidden(f"使用者「{user}」不能查詢{rt.title}資料")
        rows, _ = self.store.record_rows(rt.id, sorted(actors), search[:100], "", 1, limit)
        out = []
        views = [self._shown(rt, row, actors[row["site"]]) for row in rows]
        self._log_record_reads(user, rt, views, "lookup")
        for row, shown in zip(rows, views, strict=True):
            extra = [str(shown["data"][f]) for f in rt.search if shown["data"].get(f) not in (None, "")]
            out.append({"key": row["key"], "label": " · ".join([row["key"], *extra[:2]]), "state": row["state"],
                        "site": row["site"], "data": shown["data"]})
        return out

    # --- commands --------------------------------------------------------------------------------------------
    def add_record(self, type_id: str, user: str, data: dict, state: str | None = None,
                   site: str | None = None) -> dict:
        """A new record of a type at `site` (None: the one site where the user may edit them)."""
        rt = self.registry.record(type_id)
        check_input(data)
        site, actor = self._site_for(user, rt, site)
        clean = self._valid(rt, data)
        state = rt.check_state(state)
        key = rt.key_of(clean)
        with self.store.write():
            self._refs_exist(rt, clean, site)
            if self.store.record_at(site, rt.id, key) is not None:
                raise Invalid(f"{rt.label(key)}已經存在", [{"field": rt.key[0], "message": "已經存在"}])
            row = self.store.save_record(None, site, rt.id, key, state, clean, _search(rt, clean), "created",
                                         {"data": clean, "state": state}, user, iso(self.clock()))
        return self._shown(rt, row, actor)

    def edit_record(self, type_id: str, record_id: int | str, user: str, data: dict,
                    revision: int | None = None) -> dict:
        """Change fields of a record: those in `data` (an empty value clears one); a confidential field only by
        someone who may read it. `revision`: refuse if the record changed since it was read."""
        rt = self.registry.record(type_id)
        check_input(data)
        with self.store.write():
            row = self._record_row(rt, record_id)
            actor = self._editor(user, rt, row)
            hidden = rt.form.hidden_from(actor.every_role) & set(data)
            if hidden:
                raise Forbidden(f"使用者「{user}」不能修改保密欄位：{'、'.join(rt.form.title_of(f) for f in hidden)}")
            unknown = sorted(set(data) - set(rt.properties))
            if unknown:
                raise Invalid(f"{rt.title}沒有欄位：{'、'.join(unknown)}",
                              [{"field": f, "message": "沒有這個欄位"} for f in unknown])
            if revision is not None and revision != row["revision"]:
                raise _changed_since(rt, row)
            merged = self._valid(rt, {k: v for k, v in {**row["data"], **data}.items() if v not in (None, "")})
            self._refs_exist(rt, merged, row["site"])
            key = rt.key_of(merged)
            diff = changes(row["data"], merged)
            if not diff:
                return self._shown(rt, row, actor)
            if key != row["key"] and self.store.record_at(row["site"], rt.id, key) is not None:
                raise Invalid(f"{rt.label(key)}已經存在", [{"field": rt.key[0], "message": "已經存在"}])
            new = self.store.save_record(row, row["site"], rt.id, key, row["state"], merged, _search(rt, merged),
                                         "edited", {"changes": diff}, user, iso(self.clock()))
        return self._shown(rt, new, actor)

    def move_record(self, type_id: str, record_id: int | str, user: str, state: str, comment: str | None = None,
                    revision: int | None = None) -> dict:
        """Move a record to another state, if its type allows that move from where it is."""
        rt = self.registry.record(type_id)
        if comment is not None:
            check_input(comment, "comment")
        with self.store.write():
            row = self._record_row(rt, record_id)
            actor = self._editor(user, rt, row)
            if revision is not None and revision != row["revision"]:
                raise _changed_since(rt, row)
            rt.check_move(row["key"], row["state"], state)
            new = self.store.save_record(row, row["site"], rt.id, row["key"], state, row["data"],
                                         _search(rt, row["data"]), "moved",
                                         {"from": row["state"], "to": state, "comment": comment or None},
                                         user, iso(self.clock()))
        return self._shown(rt, new, actor)

    def _editor(self, user: str, rt: RecordType, row: dict) -> Actor:
        actor = self.actor(user, self.clock(), row["site"])
        if not self._edits(actor, rt):
            raise Forbidden(f"使用者「{user}」不能修改{rt.title}資料"
                            f"（需要角色：{self.registry.site.role_titles(rt.editors)}）")
        return actor

    def _valid(self, rt: RecordType, data: dict) -> dict:
        problems = rt.validate(data)
        if problems:
            raise Invalid(problems[0]["message"] if len(problems) == 1 else f"{rt.title}資料有 {len(problems)} "
                          f"處需要修正：{problems[0]['message']}等", problems)
        return rt.normalize(data)

    def _refs_exist(self, rt: RecordType, data: dict, site: str) -> None:
        """A record's own lookups (a key's unit) name records that exist at its site."""
        problems = self._missing_refs(rt.form.refs, data, site)
        if problems:
            raise Invalid(problems[0]["message"], problems)

    def _missing_refs(self, refs: dict, data: dict, site: str) -> list[dict]:
        problems = []
        for name, ref in refs.items():
            value = data.get(name)
            target = self.registry.records.get(ref.record)
            if value in (None, "") or target is None:
                continue
            if self.store.record_at(site, target.id, str(value)) is None:
                problems.append({"field": name, "message": f"沒有{target.label(str(value))}，請從清單中選擇"})
        return problems

    # --- forms that look records up ------------------------------------------------------------------------
    def looked_up(self, wf: Workflow, fields, data: dict, site: str) -> dict:
        """`data` of a step with its lookup fields checked against the records at `site` and the fields their
        `fill:` names (among the step's `fields`, and left empty) filled from the chosen record; its signatures
        checked to be pictures the pad uploaded (engine/signatures.py)."""
        if wf.form.signatures:
            signatures.check_stored(self.store, wf.form, fields, data)
        out = self.check_links(wf, fields, data, site) if wf.form.links else dict(data)
        if wf.form.persons:
            self.check_persons(wf, fields, out, site)
        done: set[str] = set()
        while True:  # (a filled lookup fills in turn: the key's unit, then the unit's owner)
            refs = {n: r for n, r in wf.form.refs.items()
                    if n in fields and n not in done and out.get(n) not in (None, "")}
            if not refs:
                return out
            problems = self._missing_refs(refs, out, site)
            if problems:
                raise Invalid(problems[0]["message"], problems)
            for name, ref in refs.items():
                done.add(name)
                row = self.store.record_at(site, ref.record, str(out[name]))
                for into, origin in ref.fill.items():
                    value = row["data"].get(origin) if row else None
                    if into in fields and out.get(into) in (None, "") and value not in (None, ""):
                        out[into] = value

    def _apply_update(self, effect: dict, site: str, user: str | None, instance: dict, now: datetime) -> None:
        """A step's `update:` of a record, in the step's transaction: the record must exist and its type allow the
        move (else Invalid: the whole step is refused)."""
        rt = self.registry.records.get(effect["record"])
        if rt is None:
            raise Invalid(f"找不到資料類別「{effect['record']}」，請通知管理人員")
        key = str(effect.get("key") or "")
        row = self.store.record_at(site, rt.id, key) if key else None
        if row is None:
            raise Invalid(f"沒有{rt.label(key)}" if key else f"請先選擇{rt.title}",
                          [{"field": effect.get("field") or "", "message": f"沒有這筆{rt.title}資料"}])
        data = dict(row["data"])
        for name, value in effect.get("set", {}).items():
            if value in (None, ""):
                data.pop(name, None)
            else:
                data[name] = value
        problems = rt.validate(data)
        if problems:
            raise Invalid(f"{rt.label(key)}無法更新：{problems[0]['message']}", problems)
        data = rt.normalize(data)
        state = effect.get("state") or row["state"]
        if effect.get("state"):
            rt.check_move(key, row["state"], state)
        diff = changes(row["data"], data)
        payload = {"instance": instance["id"], "number": instance.get("number"), "workflow": instance["workflow"],
                   "step": effect["step"], "changes": diff}
        if state != row["state"]:
            payload.update({"from": row["state"], "to": state})
        self.store.save_record(row, site, rt.id, rt.key_of(data) or key, state, data, _search(rt, data), "step",
                               payload, user, iso(now))

    # --- import and export -----------------------------------------------------------------------------------
    def job(self, job_id: str) -> dict | None:
        """A background job's state (an import's progress and report), as whichever server process saved it."""
        text = self.store.setting(f"job:{job_id}")
        return loads(text) if text else None

    def save_job(self, job_id: str, state: dict) -> None:
        """Keep a background job's state where every server process reads it (its `at`: when it was saved)."""
        state["at"] = time.time()
        self.store.set_setting(f"job:{job_id}", dumps(state))

    def import_records(self, type_id: str, user: str, rows: list[dict], partial: bool = False,
                       site: str | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
        """Rows (field -> value, as engine/recordio.py reads them from a sheet) into records of a type: a new key
        adds a record, a known one changes it. Every row is checked first; with a failing row nothing is written
        unless `partial` (then the good rows are). Written in batches, `progress(done, total)` after each."""
        rt = self.registry.record(type_id)
        site, actor = self._site_for(user, rt, site)
        hidden = rt.form.hidden_from(actor.every_role)
        good, failed = [], []
        seen: dict[str, int] = {}
        for number, raw in enumerate(rows, start=2):  # (row 1 is the header)
            cells = {k: v for k, v in raw.items() if k != "state"}
            problems = [{"field": f, "message": f"不能匯入保密欄位「{rt.form.title_of(f)}」"}
                        for f in sorted(hidden & {k for k, v in cells.items() if v not in (None, "")})]
            try:
                check_input(cells)
            except Invalid as exc:
                problems += exc.details
            problems += rt.validate(cells) if not problems else []
            state = raw.get("state") or None
            if state is not None and state not in rt.states:
                problems.append({"field": "state", "message": f"狀態只能是：{'、'.join(rt.states) or '（無狀態）'}"})
            key = rt.key_of(cells) if not problems else ""
            if key and key in seen:
                problems.append({"field": rt.key[0], "message": f"與第 {seen[key]} 行重複"})
            if problems:
                failed.append({"row": number, "key": key or None, "problems": problems})
                continue
            seen[key] = number
            good.append((number, key, rt.normalize(cells), state))
        existing = self.store.records_keyed(site, rt.id, [k for _, k, _, _ in good])
        for number, _, data, _ in good:
            for problem in self._missing_refs(rt.form.refs, data, site):
                failed.append({"row": number, "key": None, "problems": [problem]})
        failed.sort(key=lambda f: f["row"])
        report = {"type": rt.id, "site": site, "total": len(rows), "created": 0, "updated": 0, "unchanged": 0,
                  "failed": failed, "imported": not failed or partial}
        if failed and not partial:
            return report
        bad = {f["row"] for f in failed}
        todo = [g for g in good if g[0] not in bad]
        at = iso(self.clock())
        for start in range(0, len(todo), IMPORT_BATCH):
            with self.store.write():
                for _, key, data, state in todo[start:start + IMPORT_BATCH]:
                    row = existing.get(key) or self.store.record_at(site, rt.id, key)
                    if row is None:
                        self.store.save_record(None, site, rt.id, key, rt.check_state(state), data, _search(rt, data),
                                               "imported", {"data": data, "state": rt.check_state(state)}, user, at)
                        report["created"] += 1
                        continue
                    merged = {**row["data"], **data}
                    diff = changes(row["data"], merged)
                    new_state = state or row["state"]
                    if not diff and new_state == row["state"]:
                        report["unchanged"] += 1
                        continue
                    payload: dict = {"changes": diff}
                    if new_state != row["state"]:
                        payload.update({"from": row["state"], "to": new_state})
                    self.store.save_record(row, site, rt.id, key, new_state, merged, _search(rt, merged), "imported",
                                           payload, user, at)
                    report["updated"] += 1
            if progress:
                progress(min(start + IMPORT_BATCH, len(todo)), len(todo))
        return report

    def export_records(self, type_id: str, user: str, search: str = "", state: str = "",
                       progress: Callable[[int, int], None] | None = None) -> tuple[RecordType, list[dict]]:
        """Every record of a type `user` may read (matching `search` and `state`), as `records` gives them."""
        first = self.records(type_id, user, search, state, 1, 1000, "export")
        rows, total = list(first["rows"]), first["total"]
        page = 1
        while len(rows) < total:
            page += 1
            more = self.records(type_id, user, search, state, page, 1000, "export")["rows"]
            if not more:
                break
            rows += more
            if progress:
                progress(len(rows), total)
        return first["type"], rows


def _search(rt: RecordType, data: dict) -> str:
    """What the search as you type looks in: the key and the searched fields (never a confidential one)."""
    secret = set(rt.form.confidential.get("fields", ())) if rt.form.confidential else set()
    parts = [rt.key_of(data)] + [str(data[f]) for f in rt.search if f not in secret and data.get(f) not in (None, "")]
    return " ".join(parts).lower()


def _changed_since(rt: RecordType, row: dict) -> Conflict:
    return Conflict(f"{rt.label(row['key'])}在您開啟後已被 {row['updated_by'] or '系統'} 修改，請重新整理後再試")

