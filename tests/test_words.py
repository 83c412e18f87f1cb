"""One vocabulary: every repository workflow walked through the real app, and no outcome, step, field or
checklist item id appears in what a person reads: pages (their text, titles and labels), messages, the step
graph, printouts and register exports. Also: check warns about words missing from a definition."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import pytest
from starlette.testclient import TestClient

from engine import definitions, samples
from engine.errors import GoldkeyError
from server.app import create_app

from .conftest import BACKENDS, REPO, Clock, Databases, docx_text
from .test_definitions import TOY, copy_defs, edit

PASSWORD = "secret-pass"
PEOPLE = ["ann", "bob", "cat", "dan", "eve"]  # every one holds every role: the starter, then the signers
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_URL = re.compile(r"https?://\S+")


class Visible(HTMLParser):
    """The text a person reads on a page: its text (not scripts or styles) and the titles, labels, alternative
    texts and placeholders of its elements."""

    SHOWN = ("title", "aria-label", "alt", "placeholder")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts += [v for k, v in attrs if k in self.SHOWN and v]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = Visible()
    parser.feed(html)
    return " ".join(parser.parts)


def ids_of(wf) -> set[str]:
    """The ids staff must never read in place of words: the workflow's steps, outcomes, form fields (and the
    columns of its tables) and checklist items."""
    found = set(wf.steps) | set(wf.form.properties)
    for step in wf.steps.values():
        found |= set(step.outcomes) if step.is_task else set()
        found |= {item["id"] for item in getattr(step, "items", ())}
    for schema in wf.form.properties.values():
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        found |= set(items.get("properties", {}))
    return {i for i in found if _IDENT.fullmatch(i)}


class Walk:
    """One workflow walked through the app, collecting everything a person reads."""

    def __init__(self, app, wf, clock: Clock) -> None:
        self.app, self.wf, self.clock, self.engine = app, wf, clock, app.state.engine
        self.ids = ids_of(wf)
        self.browsers: dict[str, TestClient] = {}
        self.seen: list[tuple[str, str]] = []  # (where, text)

    def browser(self, user: str) -> TestClient:
        if user not in self.browsers:
            client = TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)
            page = client.get("/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            assert client.post("/login", data={"name": user, "password": PASSWORD, "csrf": token}).status_code == 303
            self.browsers[user] = client
        return self.browsers[user]

    def page(self, user: str, path: str) -> None:
        resp = self.browser(user).get(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
        self.read(path, visible(resp.text))

    def read(self, where: str, text: str) -> None:
        self.seen.append((where, text))

    def leaks(self) -> list[tuple[str, str]]:
        return [(where, token) for where, text in self.seen for token in _IDENT.findall(_URL.sub(" ", text))
                if token in self.ids]

    def run(self, choice: int) -> None:
        """One instance, taking the `choice`-th outcome (round robin) wherever there is a choice."""
        wf, engine = self.wf, self.engine
        starter = PEOPLE[choice % len(PEOPLE)]
        self.page(starter, f"/start/{wf.id}")
        made = self.attempt("start", wf.start.fields, lambda data: engine.start(wf.id, starter, data))
        assert made is not None, f"{wf.id} would not start with sample data"
        iid = made["id"]
        for move in range(60):
            view = engine.show(iid)
            if view["status"] != "active":
                break
            if not view["tasks"]:
                self.clock.advance(days=8)
                engine.tick()
                self.browsers.clear()  # (a week later every session has ended: each signs in again)
                continue
            task = view["tasks"][0]
            user = next((u for u in PEOPLE if task["id"] in {t["id"] for t in engine.tasks(u)}), None)
            if user is None:
                break
            if move == 0:
                self.page(user, "/")
            self.page(user, f"/tasks/{task['id']}")
            if task.get("printout"):
                self.print(user, iid, task["printout"])
            self.refusals(task, user)
            if not self.complete(task, user, choice + move):
                break
        self.page(starter, f"/instances/{iid}")
        self.read("graph", visible(self.browser(starter).get(f"/api/workflows/{wf.id}/graph.svg?instance={iid}").text))
        for name in wf.form.printouts:
            self.print(starter, iid, name)

    def complete(self, task: dict, user: str, turn: int) -> bool:
        step = self.wf.steps[task["step"]]
        extra = {"checked": [i["id"] for i in task["items"]]} if task["items"] else {}
        outcomes = task["outcomes"] or [None]
        for k in range(len(outcomes)):
            outcome = outcomes[(turn + k) % len(outcomes)]
            done = self.attempt(step.id, step.fields, lambda data, o=outcome: self.engine.complete(
                task["id"], user, o, dict(data, **extra), "原因說明"))
            if done is not None:
                return True
        return False

    def attempt(self, where: str, names, act):
        """`act(data)` with sample data of `names`; a refused field that is a yes/no or a choice is changed and
        tried again (the messages are read). None when the data cannot be made to pass."""
        data = samples.data(self.wf.form, names, records=self.engine.registry.records)
        for _ in range(6):
            try:
                return act(data)
            except GoldkeyError as exc:
                self.read(f"message at {where}", exc.message)
                changed = False
                for field in {d.get("field") for d in exc.details} & set(data):
                    schema = self.wf.form.properties[field]
                    if isinstance(data[field], bool):
                        data[field], changed = not data[field], True
                    elif "enum" in schema and data[field] in schema["enum"][:-1]:
                        data[field], changed = schema["enum"][schema["enum"].index(data[field]) + 1], True
                if not changed:
                    return None
        return None

    def refusals(self, task: dict, user: str) -> None:
        """The messages a person meets doing it wrong: no outcome, a reason left out, an unknown outcome."""
        attempts = [dict(outcome=None), dict(outcome="nonesuch")]
        needs = [o for o in task["outcomes"] if o in task.get("comment_required", [])]
        attempts += [dict(outcome=needs[0], comment=None)] if needs else []
        for attempt in attempts if task["outcomes"] else [dict(outcome="nonesuch")]:
            try:
                self.engine.complete(task["id"], user, attempt["outcome"], None, attempt.get("comment"))
            except GoldkeyError as exc:
                self.read(f"message at {task['step']}", exc.message + " " + " ".join(
                    str(d.get("message", "")) for d in exc.details))
            else:
                raise AssertionError(f"{attempt} was accepted at {task['step']}")

    def print(self, user: str, iid: int, name: str) -> None:
        try:
            body, info = self.engine.render(iid, name, user)
        except GoldkeyError as exc:  # not yet reachable: its message is read too
            self.read(f"printout {name}", exc.message)
            return
        self.read(f"printout {name}", docx_text(body))
        self.page(user, f"/verify/{info['code']}")


@pytest.fixture(scope="module", params=BACKENDS)
def walked(request, tmp_path_factory):
    registry = definitions.load_strict(REPO)
    clock = Clock()
    databases = Databases(request.param, tmp_path_factory.mktemp("words"))
    request.addfinalizer(databases.drop)
    app = create_app(databases("w.db"), registry, tick_seconds=0, clock=clock)
    results = {}
    with TestClient(app):
        for user in PEOPLE:
            app.state.engine.add_user(user, sorted(registry.site.roles), f"示範{user}")
            app.state.engine.set_password(user, PASSWORD)
        for type_id, data in samples.records(registry.records):  # (what the forms' lookups choose)
            app.state.engine.add_record(type_id, PEOPLE[0], data)
        for wid, wf in sorted(registry.workflows.items()):
            walk = Walk(app, wf, clock)
            for choice in range(3):
                walk.run(choice)
            walk.page(PEOPLE[0], f"/registers/{wf.form.id}")
            export = walk.browser(PEOPLE[0]).get(f"/registers/{wf.form.id}.csv")
            walk.read("register export", " ".join(" ".join(r) for r in csv.reader(io.StringIO(export.text))))
            walk.page(PEOPLE[0], "/start")
            results[wid] = walk
    return results


@pytest.mark.parametrize("workflow", sorted(definitions.load_strict(REPO).workflows))
def test_no_id_reaches_a_person(walked, workflow):
    walk = walked[workflow]
    read = " ".join(text for _, text in walk.seen)
    assert len(walk.seen) > 20 and "示範" in read  # pages, messages and printouts were read, with the data
    assert walk.leaks() == [], f"ids shown to staff in {workflow}: {sorted(set(walk.leaks()))[:20]}"


def test_the_walk_reaches_most_steps_and_every_outcome_title(walked):
    """The walk covers the workflows, so the test above says something."""
    for wid, walk in walked.items():
        read = " ".join(text for _, text in walk.seen)
        titles = [s.title for s in walk.wf.steps.values() if s.is_task]
        assert sum(t[:11] in read for t in titles) >= len(titles) * 0.6, wid
        for step in walk.wf.steps.values():
            for name in step.outcomes if step.is_task and step.title[:11] in read else ():
                assert step.outcome_title(name) in read, (wid, step.id, name)


def test_check_warns_about_words_a_definition_lacks(tmp_path):
    root = copy_defs(TOY, tmp_path)
    edit(root / "workflows/approve_all.yaml", "outcomes: {approve: approved, reject: rejected, rework: fix}",
         "outcomes: {approve: approved, reject: rejected, rework: fix, park: {to: fix}}")
    edit(root / "forms/memo.yaml", "note: {type: string, title: 備註}", "note: {type: string}")
    edit(root / "workflows/split.yaml", "entries: {in: in, out: out}", "entries: {in: {direction: in, title: 收入}, "
                                                                        "out: out}")
    registry = definitions.load(root, display_root="")
    assert registry.problems == []
    warnings = [str(w) for w in registry.warnings]
    for expected in (
            "workflows/approve_all.yaml:11:66: warning: outcome 'park' has no title: staff would read its id on the "
            "button; write `park: {to: fix, title: ...}` with the words staff choose",
            "workflows/approve_all.yaml:6:3: warning: step 'sign' has no title: staff would read its id; add "
            "`title:` in words",
            "forms/memo.yaml:12:5: warning: field 'note' has no title: staff would read its id; add `title:` in words",
            "workflows/split.yaml:5:64: warning: ledger entry 'out' has no title: write `out: {direction: out, "
            "title: ...}`"):
        assert expected in warnings, warnings
    assert not any("'in' has no title" in w for w in warnings)
    wf = registry.workflow("approve_all")
    assert wf.steps["sign"].outcome_title("park") == "轉「fix」"  # (an untitled step: the id stands in, warned)
    assert wf.steps["sign"].outcome_title("rework") == "退回修改"


def test_the_repository_defines_every_word():
    registry = definitions.load(REPO, display_root="")
    assert [str(w) for w in registry.warnings if "calendar" not in w.message] == []
    for wf in registry.workflows.values():
        for step in wf.steps.values():
            assert step.titled, (wf.id, step.id)
            for name, outcome in (step.outcomes.items() if step.is_task else ()):
                assert outcome.title or name in ("approve", "reject", "rework"), (wf.id, step.id, name)
