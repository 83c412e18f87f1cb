"""Records (master data): their definitions and lint, the engine's commands and views on each backend (roles, sites,
confidential fields, states and moves, history in a hash chain), imports and exports, lookups in forms and a step's
`update:` of a record in the step's transaction."""

from __future__ import annotations

import io
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import definitions, recordio
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.service import Engine

from .conftest import REPO, UNITS, Cli, query

RECORDS = REPO / "tests" / "fixtures" / "records"


def lines(registry) -> list[str]:
    return [str(p) for p in registry.problems]


# --- definitions ----------------------------------------------------------------------------------------------------

LINT = [
    ("records/room.yaml", "key: [block, room]", "key: [block, rom]",
     "records/room.yaml:3:14: unknown field 'rom'; did you mean 'room'?; record type 'room' has no such field"),
    ("records/room.yaml", "  list: [空置, 自住, 出租]", "  list: [空置, 自住, 出租]\n  moves: {空置: [自住]}",
     "records/room.yaml:8:3: give the states either as `list: [空置, 自住, 出租]` (any state may change to any "
     "other) or as `moves: {在櫃: [借出], 借出: [在櫃]}` (where each state may go), not both or neither"),
    ("records/room.yaml", "initial: 空置", "initial: 空房",
     "records/room.yaml:8:12: initial state '空房' is not one of the states (空置, 自住, 出租)"),
    ("records/room.yaml", "edit: [lead]", "edit: [leed]",
     "records/room.yaml:6:8: unknown role 'leed'; did you mean 'lead'?; roles are declared in goldkey.yaml"),
    ("records/room.yaml", "    size: {type: number, title: 面積}",
     "    size: {type: number, title: 面積, record: room}",
     "records/room.yaml:20:37: `record` belongs to a lookup field: add `format: ref` to look up a record"),
    ("records/tag.yaml", "moves: {在櫃: [借出, 遺失], 借出: [在櫃, 遺失]", "moves: {在櫃: [借出, 遺失], 借出: [借出]",
     "records/tag.yaml:9:29: state '借出' moves to itself; leave it out of its own list"),
    ("records/tag.yaml", "format: ref, record: room}", "format: ref, record: rooms}",
     "records/tag.yaml:15:58: unknown record type 'rooms'; did you mean 'room'?; it must be the id of a file in "
     "records/"),
    ("forms/lend.yaml", "fill: {room: room}}", "fill: {rooms: room}}",
     "forms/lend.yaml:7:70: `fill` names unknown field 'rooms'; did you mean 'room'?; form 'lend' has no such field"),
    ("forms/lend.yaml", "fill: {owner: owner, phone: phone}", "fill: {owner: owner, phone: phon}",
     "forms/lend.yaml:8:92: record type 'room' has no field 'phon'; did you mean 'phone'?"),
    ("forms/lend.yaml", "fill: {owner: owner, phone: phone}", "fill: {owner: size, phone: phone}",
     "forms/lend.yaml:8:78: 'owner' is string but 'size' of record type 'room' is number: fill a field with a field "
     "of the same type"),
    ("forms/lend.yaml", "format: ref, record: tag,", "format: ref,",
     "forms/lend.yaml:7:10: lookup field 'tag' (`format: ref`) needs `record:` naming a record type, e.g. `record: "
     "unit`"),
    ("workflows/lend.yaml", "update: {record: tag, key: tag,", "update: {record: tags, key: tag,",
     "workflows/lend.yaml:11:22: unknown record type 'tags'; did you mean 'tag'?; it must be the id of a file in "
     "records/"),
    ("workflows/lend.yaml", "set: {state: 借出, holder: who}", "set: {state: 出借, holder: who}",
     "workflows/lend.yaml:11:50: '出借' is not a state of record type 'tag' (在櫃, 借出, 遺失)"),
    ("workflows/lend.yaml", "set: {state: 借出, holder: who}", "set: {state: 借出, holdr: who}",
     "workflows/lend.yaml:11:54: record type 'tag' has no field 'holdr'; did you mean 'holder'?"),
    ("workflows/lend.yaml", "set: {state: 借出, holder: who}", "set: {state: 借出, code: who}",
     "workflows/lend.yaml:11:54: 'code' is part of the key of record type 'tag': a step cannot change which record "
     "it is"),
    ("workflows/lend.yaml", "set: {state: 借出, holder: who}", "set: {state: 借出, holder: whom}",
     "workflows/lend.yaml:11:62: value 'whom' names unknown field 'whom'; did you mean 'who'?; it must be a field of "
     "the form"),
    ("workflows/lend.yaml", "update: {record: tag, key: tag, set: {state: 借出, holder: who}}",
     "update: {record: room, key: tag, set: {owner: who}}",
     "workflows/lend.yaml:11:33: field 'tag' looks up record type 'tag', not 'room'"),
]


@pytest.mark.parametrize("file,old,new,expected", LINT, ids=[e[2][:40] for e in LINT])
def test_a_records_mistake_is_one_message_at_its_place(tmp_path, file, old, new, expected):
    root = tmp_path / "defs"
    shutil.copytree(RECORDS, root)
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    found = [p for p in lines(definitions.load(root, display_root=""))]
    assert found == [expected]


def test_the_fixture_and_the_repository_define_records_cleanly(registry):
    fixture = definitions.load_strict(RECORDS)
    assert sorted(fixture.records) == ["room", "tag"]
    tag = fixture.records["tag"]
    assert tag.states == ("在櫃", "借出", "遺失") and tag.targets("借出") == ("在櫃", "遺失")
    assert fixture.records["room"].targets("空置") == ("自住", "出租")
    assert {"unit", "customer", "merchant", "key", "special_person"} <= set(registry.records)
    unit = registry.records["unit"]
    assert unit.key_of({"building": "1棟", "unit": "101"}) == "1棟 101" and unit.key_of({"building": "1棟"}) == ""
    assert registry.forms["repair_order"].refs["unit"].fill == {"reporter": "owner", "phone": "phone"}


# --- the engine -----------------------------------------------------------------------------------------------------

@pytest.fixture
def eng(new_db, clock):
    engine = Engine(new_db("records.db"), definitions.load_strict(RECORDS), clock=clock)
    engine.add_user("desk", ["desk"], "前台小王")
    engine.add_user("lead", ["lead"], "主管老李")
    engine.add_user("guard", ["guard"])
    yield engine
    engine.close()


ROOM = {"block": "A", "room": "101", "owner": "王先生", "phone": "13800001111", "id_card": "110101199001011234",
        "size": 88.5}


def test_a_record_is_added_edited_moved_and_each_change_is_in_its_history(eng, clock):
    made = eng.add_record("room", "lead", ROOM)
    assert made["key"] == "A 101" and made["state"] == "空置" and made["revision"] == 1
    clock.advance(minutes=5)
    eng.edit_record("room", made["id"], "lead", {"owner": "李小姐", "phone": None})
    clock.advance(minutes=5)
    moved = eng.move_record("room", made["id"], "lead", "出租", "租給李小姐")
    assert moved["state"] == "出租" and moved["revision"] == 3 and "phone" not in moved["data"]
    shown = eng.record("room", made["id"], "lead")
    assert [(h["kind"], h["actor"]) for h in shown["history"]] == [("created", "lead"), ("edited", "lead"),
                                                                    ("moved", "lead")]
    assert shown["history"][1]["payload"] == {"changes": {"owner": ["王先生", "李小姐"],
                                                          "phone": ["13800001111", None]}}
    assert shown["history"][2]["payload"] == {"from": "空置", "to": "出租", "comment": "租給李小姐"}
    assert shown["moves"] == ["空置", "自住"]
    assert eng.audit() == {"ok": True, "events": 0, "record_events": 3, "problem": None}


def test_readers_read_editors_edit_and_strangers_neither(eng):
    made = eng.add_record("room", "lead", ROOM)
    with pytest.raises(Forbidden, match="不能新增或修改房間資料（需要角色：主管）"):
        eng.add_record("room", "desk", dict(ROOM, room="102"))
    with pytest.raises(Forbidden, match="不能修改房間資料"):
        eng.edit_record("room", made["id"], "desk", {"owner": "x"})
    with pytest.raises(Forbidden, match="不能修改房間資料"):
        eng.move_record("room", made["id"], "desk", "自住")
    with pytest.raises(Forbidden, match="不能查看房間資料"):
        eng.records("room", "guard")
    assert [t["id"] for t in eng.record_types("guard")] == ["tag"]
    assert [(t["id"], t["may_edit"]) for t in eng.record_types("desk")] == [("room", False), ("tag", False)]
    assert eng.records("room", "desk")["total"] == 1


def test_a_confidential_field_is_masked_in_views_history_and_search_and_cannot_be_overwritten_blind(eng):
    made = eng.add_record("room", "lead", ROOM)
    eng.edit_record("room", made["id"], "lead", {"id_card": "11010119900101999X"})
    desk = eng.record("room", made["id"], "desk")
    assert desk["data"]["id_card"] == "（保密）" and desk["hidden"] == ["id_card"]
    assert desk["history"][0]["payload"]["data"]["id_card"] == "（保密）"
    assert desk["history"][1]["payload"]["changes"] == {"id_card": ["（保密）", "（保密）"]}
    assert eng.record("room", made["id"], "lead")["data"]["id_card"] == "11010119900101999X"
    assert eng.records("room", "desk", "1101")["total"] == 0  # (never in what the search looks into)


def test_wrong_input_is_refused_in_words_and_changes_nothing(eng, new_db):
    made = eng.add_record("room", "lead", ROOM)
    cases = [
        (lambda: eng.add_record("room", "lead", dict(ROOM)), Invalid, "房間「A 101」已經存在"),
        (lambda: eng.add_record("room", "lead", {"block": "A"}), Invalid, "「房」為必填"),
        (lambda: eng.add_record("room", "lead", dict(ROOM, room="9", size="大")), Invalid, "「面積」應為數字"),
        (lambda: eng.add_record("room", "lead", dict(ROOM, room="9"), state="拆除"), Invalid,
         "房間的狀態只能是：空置、自住、出租"),
        (lambda: eng.edit_record("room", made["id"], "lead", {"colour": "red"}), Invalid, "房間沒有欄位：colour"),
        (lambda: eng.edit_record("room", made["id"], "lead", {"owner": "x"}, revision=7), Conflict,
         "在您開啟後已被 lead 修改"),
        (lambda: eng.edit_record("room", made["id"], "lead", {"room": None}), Invalid, "「房」為必填"),
        (lambda: eng.move_record("room", made["id"], "lead", "空置"), Invalid, "目前已是「空置」"),
        (lambda: eng.record("room", 999, "lead"), NotFound, "沒有這筆房間資料（999）"),
        (lambda: eng.record("room", "x1", "lead"), NotFound, "沒有這筆房間資料"),
        (lambda: eng.records("attic", "lead"), NotFound, "沒有資料類別「attic」"),
        (lambda: eng.add_record("tag", "lead", {"code": "T1", "room": "Z 9"}), Invalid,
         "沒有房間「Z 9」，請從清單中選擇"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    assert query(new_db("records.db"), "SELECT count(*), max(revision) FROM records") == [(1, 1)]
    assert query(new_db("records.db"), "SELECT count(*) FROM record_events") == [(1,)]


def test_a_tampered_record_event_fails_the_audit(eng, new_db):
    made = eng.add_record("room", "lead", ROOM)
    eng.edit_record("room", made["id"], "lead", {"owner": "李小姐"})
    assert eng.audit()["ok"]
    with eng.store.write():
        eng.store.conn.execute("UPDATE records SET head = ? WHERE id = ?", ("0" * 64, made["id"]))
    report = eng.audit()
    assert not report["ok"] and report["problem"] == "record A 101: its events do not end at the recorded head"


def test_record_events_are_append_only(eng):
    eng.add_record("room", "lead", ROOM)
    with pytest.raises(Exception, match="append-only"):
        with eng.store.write():
            eng.store.conn.execute("UPDATE record_events SET actor = 'someone'")


def test_a_list_searches_key_and_searched_fields_filters_by_state_and_pages(eng):
    for i in range(60):
        eng.add_record("room", "lead", {"block": "B", "room": f"{i:03d}", "owner": "陳" if i % 2 else "周"},
                       state="自住" if i < 10 else "空置")
    assert eng.records("room", "desk", "b 00")["total"] == 10  # (any case)
    assert eng.records("room", "desk", "陳")["total"] == 30
    found = eng.records("room", "desk", state="自住")
    assert found["total"] == 10 and found["states"] == {"自住": 10, "空置": 50}
    second = eng.records("room", "desk", page=2)
    assert second["total"] == 60 and [r["key"] for r in second["rows"]][:2] == ["B 050", "B 051"]
    assert eng.records("room", "desk", state="倒閉")["total"] == 0  # (a state no record is in finds none)


# --- import and export ----------------------------------------------------------------------------------------------

def sheet(*rows: str) -> bytes:
    return ("\ufeff" + "\n".join(rows) + "\n").encode("utf-8")


def test_an_import_with_a_bad_row_imports_nothing_and_reports_every_row(eng):
    rt = eng.record_type("room")
    rows = recordio.read_sheet(rt, sheet("座,房,業主,面積,狀態", "A,101,王先生,88,自住", "A,102,,大,自住",
                                         "A,101,重複,70,", "A,103,,,拆除"), "rooms.csv")
    report = eng.import_records("room", "lead", rows)
    assert report["imported"] is False and report["created"] == 0
    assert [(f["row"], [p["message"] for p in f["problems"]]) for f in report["failed"]] == [
        (3, ["「面積」應為數字"]), (4, ["與第 2 行重複"]), (5, ["狀態只能是：空置、自住、出租"])]
    assert eng.records("room", "lead")["total"] == 0
    partial = eng.import_records("room", "lead", rows, partial=True)
    assert partial["imported"] and partial["created"] == 1 and len(partial["failed"]) == 3
    assert eng.records("room", "lead")["rows"][0]["state"] == "自住"


def test_an_import_adds_new_keys_changes_known_ones_and_reports_progress(eng):
    eng.add_record("room", "lead", ROOM)
    rt = eng.record_type("room")
    body = sheet("block,room,owner", "A,101,王先生", "A,102,周先生", *[f"C,{i},某" for i in range(450)])
    seen: list[tuple[int, int]] = []
    report = eng.import_records("room", "lead", recordio.read_sheet(rt, body, "x.csv"),
                                progress=lambda done, total: seen.append((done, total)))
    assert (report["created"], report["updated"], report["unchanged"]) == (451, 0, 1)
    assert seen == [(200, 452), (400, 452), (452, 452)]
    again = eng.import_records("room", "lead", recordio.read_sheet(rt, sheet("座,房,業主", "A,101,李小姐"), "y.csv"))
    assert again["updated"] == 1
    history = eng.record("room", eng.record_id("room", "A 101", "lead"), "lead")["history"]
    assert history[-1]["kind"] == "imported" and history[-1]["payload"] == {"changes": {"owner": ["王先生", "李小姐"]}}


def test_a_sheet_that_cannot_be_read_says_why(eng):
    rt = eng.record_type("room")
    for body, name, message in [
        (sheet("座,房,顏色", "A,1,紅"), "a.csv", "第 1 行的欄位「顏色」不是房間的欄位"),
        (sheet("座,業主", "A,王"), "a.csv", "檔案缺少欄位「房」"),
        (b"", "a.csv", "檔案是空的"),
        (b"PK\x03\x04broken", "a.xlsx", "檔案不是有效的 .xlsx 活頁簿"),
        (b"x", "a.txt", "只能匯入 .csv 或 .xlsx 檔案"),
    ]:
        with pytest.raises(Invalid, match=message):
            recordio.read_sheet(rt, body, name)
    assert recordio.read_sheet(rt, "座,房,業主\nA,1,王\n".encode("gb18030"), "gbk.csv") == [
        {"block": "A", "room": "1", "owner": "王"}]


def test_a_confidential_column_is_not_imported_by_someone_who_may_not_read_it(engine):
    engine.add_user("desk", ["concierge"])  # (edits 客戶, but may not read 身份證號)
    rt = engine.record_type("customer")
    rows = recordio.read_sheet(rt, sheet("樓棟,房號,姓名,身份,聯繫電話,身份證號", "1棟,101,李先生,業主,13800000000,"
                                         "11010119900101123X", "1棟,102,周女士,業主,13800000001,"), "c.csv")
    report = engine.import_records("customer", "desk", rows)
    assert report["failed"] == [{"row": 2, "key": None, "problems": [
        {"field": "id_number", "message": "不能匯入保密欄位「身份證號」"}]}] and not report["imported"]


def test_an_xlsx_export_is_what_an_import_reads_back(eng, tmp_path):
    from openpyxl import load_workbook

    from engine import registers

    for i in range(3):
        eng.add_record("room", "lead", dict(ROOM, room=f"10{i}", size=80 + i), state="自住")
    rt, rows = eng.export_records("room", "desk")
    header, cells = recordio.table(rt, rows, None, set().union(*(set(r["hidden"]) for r in rows)))
    assert "證件號" not in header and header[-1] == "狀態"  # (what the reader may not see is left out)
    body = registers.to_xlsx(rt.title, header, cells)
    book = load_workbook(io.BytesIO(body))
    assert [c.value for c in book.active[1]] == header
    back = recordio.read_sheet(rt, body, "rooms.xlsx")
    assert back[0] == {"block": "A", "room": "100", "owner": "王先生", "phone": "13800001111", "size": 80,
                       "state": "自住"}
    assert eng.import_records("room", "lead", back)["unchanged"] == 3


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["在櫃", "借出", "遺失"]), max_size=12))
def test_a_record_only_ever_makes_the_moves_its_type_allows(eng, moves):
    tag = eng.record_type("tag")
    made = eng.add_record("tag", "lead", {"code": f"T{len(eng.records('tag', 'lead')['rows'])}"})
    state = made["state"]
    for target in moves:
        try:
            state = eng.move_record("tag", made["id"], "lead", target)["state"]
        except Invalid:
            assert target not in tag.targets(state)
        else:
            assert state == target
    assert eng.record("tag", made["id"], "lead")["state"] == state
    assert eng.audit()["ok"]


# --- lookups and a step's update ------------------------------------------------------------------------------------

def lend(eng) -> dict:
    eng.add_record("room", "lead", ROOM)
    eng.add_record("tag", "lead", {"code": "T-1", "room": "A 101"})
    return eng.start("lend", "desk", {"tag": "T-1", "who": "張師傅"})


def test_a_lookup_fills_the_form_from_the_records_it_names(eng):
    started = lend(eng)
    assert started["data"] == {"tag": "T-1", "room": "A 101", "owner": "王先生", "phone": "13800001111",
                               "who": "張師傅"}
    typed = eng.start("lend", "desk", {"tag": "T-1", "who": "李", "owner": "業主本人"})
    assert typed["data"]["owner"] == "業主本人"  # (what the person typed stays)
    with pytest.raises(Invalid, match="沒有鑰匙牌「T-9」，請從清單中選擇") as refused:
        eng.start("lend", "desk", {"tag": "T-9", "who": "李"})
    assert refused.value.details == [{"field": "tag", "message": "沒有鑰匙牌「T-9」，請從清單中選擇"}]
    found = eng.lookup("room", "desk", "王")
    assert [(r["key"], r["label"]) for r in found] == [("A 101", "A 101 · 王先生")]
    assert found[0]["data"]["id_card"] == "（保密）"
    with pytest.raises(Forbidden):
        eng.lookup("room", "guard", "王")  # (guard holds no role of a workflow looking rooms up, nor reads them)


def test_a_step_moves_the_record_and_a_key_lent_out_cannot_be_lent_again(eng, new_db):
    first = lend(eng)
    eng.complete(first["tasks"][0]["id"], "desk")
    tag = eng.record("tag", eng.record_id("tag", "T-1", "desk"), "desk")
    assert tag["state"] == "借出" and tag["data"]["holder"] == "張師傅"
    assert tag["history"][-1]["kind"] == "step" and tag["history"][-1]["payload"]["step"] == "out"
    second = eng.start("lend", "desk", {"tag": "T-1", "who": "李"})
    before = query(new_db("records.db"), "SELECT revision, events FROM instances WHERE id = ?", (second["id"],))
    with pytest.raises(Invalid, match="鑰匙牌「T-1」目前已是「借出」，不能再改為「借出」"):
        eng.complete(second["tasks"][0]["id"], "desk")
    assert query(new_db("records.db"), "SELECT revision, events FROM instances WHERE id = ?", (second["id"],)) == before
    assert eng.record("tag", tag["id"], "desk")["revision"] == tag["revision"]
    back = eng.complete(eng.show(first["id"])["tasks"][0]["id"], "desk", data={"lost": False})
    assert back["status"] == "completed"
    tag = eng.record("tag", tag["id"], "desk")
    assert tag["state"] == "在櫃" and "holder" not in tag["data"]
    updated = [e for e in eng.show(first["id"])["history"] if e["type"] == "record_updated"]
    assert [(e["step"], e["payload"]["state"], e["payload"]["set"]) for e in updated] == [
        ("out", "借出", {"holder": "張師傅"}), ("back", "在櫃", {"holder": None})]
    eng.complete(eng.show(second["id"])["tasks"][0]["id"], "desk")  # now it may go out again
    lost = eng.complete(eng.show(second["id"])["tasks"][0]["id"], "desk", data={"lost": True})
    assert lost["status"] == "completed" and eng.record("tag", tag["id"], "desk")["state"] == "遺失"
    assert eng.audit()["ok"]


def test_the_repair_order_fills_reporter_and_phone_from_the_units_register(engine):
    engine.add_user("desk", ["concierge"])
    report = {"source": "業主報修", "unit": "3棟 601", "location": "廚房", "description": "漏水", "someone_home": True,
              "emergency": False}
    made = engine.start("repair_order", "desk", report)
    assert made["data"]["reporter"] == UNITS[2]["owner"] and made["data"]["phone"] == UNITS[2]["phone"]
    assert engine.lookup("unit", "desk", "林小姐")[0]["key"] == "3棟 601"


def test_records_from_the_command_line(new_db, tmp_path):
    cli = Cli(new_db("cli.db"), RECORDS)
    cli.run("users", "add", "lead", "--role", "lead")
    cli.run("users", "add", "desk", "--role", "desk")
    made = cli.json("records", "add", "room", "--as", "lead", "--data", '{"block": "A", "room": "1", "owner": "王"}')
    assert made["key"] == "A 1" and made["state"] == "空置"
    cli.json("records", "move", "room", "A 1", "出租", "--as", "lead")
    assert cli.json("records", "show", "room", "A 1", "--as", "desk")["state"] == "出租"
    refused = cli.run("records", "edit", "room", "A 1", "--as", "desk", "--data", '{"owner": "x"}', ok=False)
    assert refused.returncode == 3 and refused.stderr.startswith("goldkey: 使用者「desk」不能修改房間資料")
    (tmp_path / "rooms.csv").write_bytes(sheet("座,房,業主", "A,2,周", "A,,陳"))
    failed = cli.run("records", "import", "room", str(tmp_path / "rooms.csv"), "--as", "lead", ok=False)
    assert failed.returncode == 1 and '"imported": false' in failed.stdout
    done = cli.run("records", "import", "room", str(tmp_path / "rooms.csv"), "--as", "lead", "--partial", ok=False)
    assert '"created": 1' in done.stdout and "匯入房間" in done.stderr
    out = tmp_path / "rooms.xlsx"
    assert cli.json("records", "export", "room", "-o", str(out), "--as", "desk")["rows"] == 2
    assert cli.json("records", "list", "room", "--as", "desk", "-q", "周")["total"] == 1
    assert [t["id"] for t in cli.json("records", "types", "--as", "desk")] == ["room", "tag"]


def test_what_the_last_shift_left_open_carries_into_the_next(eng):
    eng.start("handover", "desk", {"items": [{"matter": "3棟電梯異響", "status": "未處理"},
                                            {"matter": "車庫燈已換", "status": "已處理"}, {"matter": "待查"}],
                                  "note": "夜班注意"})
    carried = eng.start("handover", "desk", {})
    assert carried["data"] == {"items": [{"matter": "3棟電梯異響", "status": "未處理"}, {"matter": "待查"}],
                               "note": "夜班注意"}
    given = eng.start("handover", "desk", {"note": "新的"})
    assert given["data"]["note"] == "新的" and len(given["data"]["items"]) == 2


def test_a_carry_mistake_is_reported_at_its_place(tmp_path):
    root = tmp_path / "defs"
    shutil.copytree(RECORDS, root)
    path = root / "workflows/handover.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("when: \"status != '已處理'\"", "when: \"state != 1\"")
                    .replace("{field: note}", "{field: note, from: items}"), encoding="utf-8")
    assert [str(p) for p in definitions.load(root, display_root="").problems] == [
        "workflows/handover.yaml:5:26: condition 'state != 1' names unknown field 'state'; did you mean 'status'?; "
        "it must be a field of the form",
        "workflows/handover.yaml:6:5: 'note' and 'items' must both be tables or both not: rows are carried into a "
        "table, a value into a field"]


def test_simulate_finds_a_path_that_moves_a_record_where_its_type_forbids(tmp_path):
    from engine.simulate import simulate

    root = tmp_path / "defs"
    shutil.copytree(RECORDS, root)
    assert simulate(definitions.load_strict(root).workflow("lend"), definitions.load_strict(root))["stuck"] == []
    path = root / "workflows/lend.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "    next: back\n", "    next: again\n  again:\n    kind: form\n    title: 再借\n    roles: [desk]\n"
                           "    fields: []\n    update: {record: tag, key: tag, set: {state: 借出}}\n"
                           "    next: back\n", 1),
        encoding="utf-8")
    registry = definitions.load_strict(root)
    stuck = simulate(registry.workflow("lend"), registry)["stuck"]
    assert (stuck[0]["path"], stuck[0]["reason"]) == (["start", "out", "again"], (
        "step 'again' moves 鑰匙牌 (tag) from '借出' to '借出', which record type 'tag' does not allow (from '借出': "
        "在櫃, 遺失)"))
