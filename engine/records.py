"""Record types (master data: units, customers, shops, keys): a declared JSON Schema, a key, optional states with
their allowed moves, who may read and who may edit. Pure: what a record is and which changes are allowed; the store
keeps them (engine/recordstore.py) and the Engine applies the access rules (engine/recordservice.py).

A record's key is the text of its key fields joined by a space ("A棟 1203"); it is what a form's lookup field
(`format: ref`) holds. A record changes only by events (created, edited, moved, imported, updated by a step),
each in the record's own hash chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import Invalid
from .forms import Form

KEY_SEPARATOR = " "


@dataclass
class RecordType:
    id: str
    title: str
    form: Form  # the schema, its validation, titles, ui hints and confidential fields
    key: tuple[str, ...]
    search: tuple[str, ...] = ()  # fields searched besides the key (owner, phone)
    columns: tuple[str, ...] = ()  # the list's columns after the key and the state
    states: tuple[str, ...] = ()  # () without states
    initial: str | None = None
    moves: dict[str, tuple[str, ...]] | None = None  # state -> where it may go; None: anywhere
    readers: tuple[str, ...] = ()
    editors: tuple[str, ...] = ()
    path: str = ""
    description: str | None = None

    @property
    def properties(self) -> dict[str, dict]:
        return self.form.properties

    def key_of(self, data: dict) -> str:
        """The key of a record with `data` ('' when a key field is empty)."""
        parts = [_text(data.get(f)) for f in self.key]
        return KEY_SEPARATOR.join(parts) if all(parts) else ""

    def label(self, key: str) -> str:
        return f"{self.title}「{key}」"

    def check_state(self, state: str | None, field_name: str = "state") -> str | None:
        """A state to give a new record: the one asked for, else the initial one."""
        if not self.states:
            if state:
                raise Invalid(f"{self.title}沒有狀態", [{"field": field_name, "message": "此類資料沒有狀態"}])
            return None
        state = state or self.initial
        if state not in self.states:
            raise Invalid(f"{self.title}的狀態只能是：{'、'.join(self.states)}",
                          [{"field": field_name, "message": f"狀態只能是：{'、'.join(self.states)}"}])
        return state

    def targets(self, state: str | None) -> tuple[str, ...]:
        """The states a record in `state` may move to."""
        if not self.states:
            return ()
        if self.moves is None:
            return tuple(s for s in self.states if s != state)
        return self.moves.get(state or "", ())

    def check_move(self, key: str, current: str | None, new: str) -> None:
        """Refuse a move the declared states do not allow, in words the front desk reads."""
        if not self.states:
            raise Invalid(f"{self.title}沒有狀態，不能改為「{new}」")
        if new not in self.states:
            raise Invalid(f"{self.label(key)}的狀態只能是：{'、'.join(self.states)}，沒有「{new}」")
        allowed = self.targets(current)
        if new == current:
            raise Invalid(f"{self.label(key)}目前已是「{current}」，不能再改為「{new}」",
                          [{"field": "state", "message": f"目前已是「{current}」"}])
        if new not in allowed:
            more = f"（可改為：{'、'.join(allowed)}）" if allowed else "（目前不能再變更）"
            raise Invalid(f"{self.label(key)}目前為「{current}」，不能改為「{new}」{more}",
                          [{"field": "state", "message": f"目前為「{current}」，不能改為「{new}」"}])

    def validate(self, data: dict, fields: set[str] | None = None) -> list[dict]:
        """Problems of a record's data ([{field, message}]): its schema, its rules, every key field present.
        `fields`: only these (a step's `set`)."""
        required = self.form.required | set(self.key) if fields is None else frozenset()
        problems = self.form.validate(data, required, fields)
        if fields is None and not problems and not self.key_of(data):
            problems = [{"field": f, "message": f"「{self.form.title_of(f)}」為必填"} for f in self.key
                        if not _text(data.get(f))]
        return problems

    def normalize(self, data: dict) -> dict:
        """Known fields only, money canonical, empty values left out."""
        return {k: v for k, v in self.form.normalize(data).items() if k in self.properties and v not in (None, "")}

    def describe(self) -> dict:
        return {"id": self.id, "title": self.title, "description": self.description, "key": list(self.key),
                "search": list(self.search),
                "columns": list(self.columns), "states": list(self.states), "initial": self.initial,
                "moves": {s: list(self.targets(s)) for s in self.states}, "roles": list(self.readers),
                "edit": list(self.editors), "schema": self.form.schema,
                "confidential": self.form.confidential or None}


def changes(before: dict, after: dict) -> dict[str, list]:
    """{field: [old, new]} of every field whose value differs."""
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
