"""Signatures drawn on screen (`format: signature`): an owner or tenant, who never logs in, signs on the staff
member's phone. The field holds the id of the picture (the SHA-256 of its PNG, stored as an attachment), so a
printout that shows the signature has it in the hash its verification compares.

When a step writes a signature, the core binds it to the data it signed (`bind`): the hash of the instance data
as it stood, the signatures captured with it left out, goes into the state (`state["signed_fields"][field]`:
data_hash, the fields it covers, who captured it, when) and into the audit log (a `signature_captured` event
whose `data` is {field: picture}, as other events carry what they wrote). Nothing here reads a database but the
helpers the service passes its store to (`check_stored`, `images`, `verified`)."""

from __future__ import annotations

import struct
import zlib

from .errors import Invalid
from .forms import SIGNATURE_FORMAT, Form

MAX_BYTES = 512 * 1024  # a pad's PNG is some 10-40 KB
MAX_SIDE = 4096  # pixels, either way
MAGIC = b"\x89PNG\r\n\x1a\n"
STATE = "signed_fields"  # the state's key: field -> {data_hash, fields, by, at}
DESCR = "goldkey:signature:"  # a printout's placeholder picture: its alternative text, then the field


def bind(form: Form, state: dict, merged: dict, by: str | None, at: str) -> list[tuple[str, dict]]:
    """The events of the signatures `merged` writes over `state["data"]` (captured, or cleared), their bindings
    kept in `state`. A signature is bound to the hash of the data as it stood when signed: everything but the
    signatures captured in the same write (core.data_hash of it, and the fields it covers)."""
    from .core import data_hash  # (the core calls this module: imported once it is loaded)

    before = state.get("data", {})
    changed = [f for f in form.signatures if merged.get(f) != before.get(f)]
    if not changed:
        return []
    captured = [f for f in changed if merged.get(f) not in (None, "")]
    signed = {k: v for k, v in merged.items() if k not in captured}
    digest = data_hash(signed)
    marks = state.setdefault(STATE, {})
    out = []
    for name in changed:
        if name in captured:
            marks[name] = {"data_hash": digest, "fields": sorted(signed), "by": by, "at": at}
            out.append(("signature_captured", {"field": name, "data": {name: merged[name]}, "data_hash": digest,
                                               "fields": sorted(signed), "by": by}))
        else:
            marks.pop(name, None)
            out.append(("signature_cleared", {"field": name, "by": by}))
    return out


def intact(state: dict, name: str) -> bool | None:
    """Is the data a signature was bound to unchanged (None: no signature bound)?"""
    from .core import data_hash

    mark = state.get(STATE, {}).get(name)
    if mark is None:
        return None
    data = state.get("data", {})
    return data_hash({k: data.get(k) for k in mark["fields"]}) == mark["data_hash"]


def printed(form: Form, state: dict, shown: list[str] | None) -> list[dict]:
    """The signatures a printout shows (`shown`: its fields, None all): [{field, hash, data_hash}], `hash` the
    picture's SHA-256 (the field's value), `data_hash` the data it was bound to."""
    data, marks = state.get("data", {}), state.get(STATE, {})
    return [{"field": f, "hash": data[f], "data_hash": marks.get(f, {}).get("data_hash")}
            for f in form.signatures if (shown is None or f in shown) and data.get(f) not in (None, "")]


# --- the picture ------------------------------------------------------------------------------------------------

def check_image(data: bytes) -> tuple[int, int]:
    """(width, height) of a whole PNG picture of at most MAX_BYTES and MAX_SIDE pixels a side; anything else is
    refused in words (Invalid: a 422)."""
    def bad(message: str, short: str = "簽名圖檔無效，請清除後重新簽名") -> Invalid:
        return Invalid(message, [{"field": "file", "message": short}])

    if not data:
        raise bad("沒有簽名：請在框內簽名後再送出", "請在框內簽名")
    if len(data) > MAX_BYTES:
        raise bad(f"簽名圖檔不可超過 {MAX_BYTES // 1024} KB", "檔案太大")
    if not data.startswith(MAGIC):
        raise bad("簽名必須是 PNG 圖片（簽名板送出的圖檔）", "只接受 PNG 圖片")
    size, kinds, idat, pos = None, [], [], len(MAGIC)
    while pos + 12 <= len(data) and (not kinds or kinds[-1] != b"IEND"):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        body = data[pos + 8:end - 4]
        if end > len(data) or zlib.crc32(kind + body) != struct.unpack(">I", data[end - 4:end])[0]:
            raise bad("簽名圖檔已損壞（PNG 區塊不完整）")
        if kind == b"IHDR" and length == 13:
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat.append(body)
        kinds.append(kind)
        pos = end
    if size is None or kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or not idat:
        raise bad("簽名圖檔已損壞（不是完整的 PNG 圖片）")
    width, height = size
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise bad(f"簽名圖片的大小不合理（{width}×{height} 像素；每邊最多 {MAX_SIDE} 像素）", "圖片大小不合理")
    most = height * (1 + width * 8)  # (16-bit RGBA, a filter byte a row: no PNG inflates to more)
    inflate = zlib.decompressobj()
    try:
        pixels = inflate.decompress(b"".join(idat), most + 1)
    except zlib.error:
        raise bad("簽名圖檔已損壞（影像資料無法解壓）") from None
    if len(pixels) > most or not inflate.eof:
        raise bad("簽名圖檔已損壞（影像資料不完整）")
    return width, height


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# what prints where a signature field is empty: one transparent pixel, stretched to the placeholder's box
BLANK_PNG = (MAGIC + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0))
             + _chunk(b"IDAT", zlib.compress(b"\0\0\0\0\0")) + _chunk(b"IEND", b""))


# --- with the store (called by the service) --------------------------------------------------------------------

def check_stored(store, form: Form, fields, data: dict) -> None:
    """Each signature among `fields` that `data` fills must be a PNG picture stored here, as the pad uploads it
    (Invalid naming the field otherwise: an id of another kind of file, or of nothing)."""
    from .attachments import HASH

    problems = []
    for name in form.signatures:
        value = data.get(name)
        if name not in fields or value in (None, ""):
            continue
        meta = store.attachment(value) if isinstance(value, str) and HASH.match(value) else None
        if meta is None or meta["type"] != "image/png" or meta["size"] > MAX_BYTES:
            problems.append({"field": name, "message": f"「{form.title_of(name)}」不是簽名板上的簽名，請重新簽名"})
    if problems:
        raise Invalid(problems[0]["message"], problems)


def images(store, fields, data: dict, hidden=frozenset()) -> dict[str, bytes]:
    """The PNG of each signature field in `fields` (a template's placeholders), for the printout: BLANK_PNG where
    the field is empty, hidden from the printing user, or holds no stored PNG."""
    from .attachments import HASH

    out = {}
    for name in fields:
        value = data.get(name) if name not in hidden else None
        body = store.attachment_bytes(value) if isinstance(value, str) and HASH.match(value) else None
        out[name] = body if body and body.startswith(MAGIC) else BLANK_PNG
    return out


def verified(store, record: dict, form: Form) -> list[dict]:
    """The signatures a print showed, from its `printout_issued` event: [{field, title, hash, data_hash}]."""
    if not form.signatures:
        return []
    for event in reversed(store.events(record["instance_id"])):
        payload = event["payload"] or {}
        if event["type"] == "printout_issued" and payload.get("code") == record["code"]:
            return [dict(s, title=form.title_of(s["field"]) if s["field"] in form.properties else "簽名")
                    for s in payload.get("signatures") or []]
    return []


__all__ = ["BLANK_PNG", "DESCR", "MAX_BYTES", "SIGNATURE_FORMAT", "bind", "check_image", "check_stored", "images",
           "intact", "printed", "verified"]
