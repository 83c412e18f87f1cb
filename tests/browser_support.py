"""Helpers for the browser tests: a live uvicorn server on 127.0.0.1 in a thread, Debian's chromium driven by
Playwright (never a downloaded browser), and a `Staff` member who logs in and clicks through the UI."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import uvicorn
from playwright.sync_api import Browser, Locator, Page, expect

from engine import definitions
from engine.service import Engine, utcnow
from server.app import create_app

CHROMIUM = os.environ.get("GOLDKEY_CHROMIUM", "/usr/bin/chromium")
# What this machine's chromium needs: no sandbox as root, no GPU, and no background traffic to Google (the
# network is closed). Playwright adds --headless and a fresh temporary --user-data-dir itself.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "secret-pass"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# Staff on the live server: name -> (roles, title).
USERS = {
    "wang": (["concierge"], "王小明"),
    "chen": (["cs_supervisor", "service_centre"], "陳主管"),
    "xiao": (["assistant"], "蕭助理"),
    "gong": (["engineering_lead"], "龔工"),
    "zhu": (["supervisor"], "朱主任"),
    "jing": (["manager"], "景經理"),
}


class Clock:
    """The live server's clock: real time, which a test may move forward (to make a task overdue)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self):
        return utcnow() + self.offset

    def advance(self, **kwargs) -> None:
        self.offset += timedelta(**kwargs)


class LiveServer:
    """The real app (create_app) under uvicorn in a background thread, on a free port of 127.0.0.1."""

    def __init__(self, db: Path, repo: Path) -> None:
        self.db = db
        self.clock = Clock()
        self.registry = definitions.load_strict(repo)
        engine = Engine(db, self.registry)
        try:
            for name, (roles, title) in USERS.items():
                engine.add_user(name, roles, title)
                engine.set_password(name, PASSWORD)
        finally:
            engine.close()
        self.app = app = create_app(db, self.registry, tick_seconds=0, clock=self.clock)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name="goldkey-live-server")

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                if time.monotonic() > deadline or not self.thread.is_alive():
                    raise RuntimeError(f"the live server did not answer {self.url}/healthz") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def launch(playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


class Staff:
    """One browser page on the live server, clicking as a member of staff would."""

    def __init__(self, page: Page, base: str) -> None:
        self.page, self.base = page, base
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message) -> None:
        # A page answered 4xx (a form sent back with its errors: 422) is logged as a failed load too; failed
        # loads are judged in _response, where the document itself is allowed an error status.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console error: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 400 and response.request.resource_type != "document" \
                and not response.url.endswith("/favicon.ico"):
            self.errors.append(f"{response.status} for {response.request.resource_type} {response.url}")

    # -- navigation -------------------------------------------------------------------------------------------

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def path(self) -> str:
        return self.page.url.removeprefix(self.base)

    def login(self, name: str, password: str = PASSWORD) -> None:
        self.goto("/login")
        form = self.page.locator("form:has(input[name='password'])")
        form.locator("input[name='name']").fill(name)
        form.locator("input[name='password']").fill(password)
        form.locator("button[type='submit'], button:not([type]), input[type='submit']").first.click()
        expect(self.page).to_have_url(self.base + "/")

    def logout(self) -> None:
        self.page.locator("form[action='/logout'] button, form[action='/logout'] input[type='submit']").click()
        expect(self.page).to_have_url(re.compile(r"/login"))

    def nav(self, text: str) -> None:
        """Follow a link of the navigation bar by its text (待辦, 發起)."""
        self.page.locator("nav a, header a").filter(has_text=text).first.click()

    # -- forms ------------------------------------------------------------------------------------------------

    def main_form(self) -> Locator:
        """The page's form: not the logout button's, nor a task's hold or resume form."""
        return self.page.locator("main form:not([action='/logout']):not([action$='/hold']):not([action$='/resume'])"
                                 ).first

    def field(self, name: str) -> Locator:
        return self.page.locator(f"div.field[data-field='{name}']")

    def control(self, name: str) -> Locator:
        return self.page.locator(f"[name='f.{name}']")

    def fill(self, name: str, value) -> None:
        """Set field `name` as a person would, whatever control it is: a text box, a text area, a select, radio
        buttons, one checkbox (a yes/no) or a group of checkboxes (a list)."""
        control = self.control(name)
        expect(control.first).to_be_attached()
        kind = control.first.evaluate("e => e.tagName === 'INPUT' ? 'input:' + e.type : e.tagName.toLowerCase()")
        if kind == "select":
            if control.locator(f"option[value='{value}']").count():
                control.select_option(value)
            else:
                control.select_option(label=value)
        elif kind == "input:radio":
            self.page.locator(f"input[name='f.{name}'][value='{_radio_value(value)}']").check()
        elif kind == "input:checkbox" and isinstance(value, bool):
            control.first.set_checked(value)
        elif kind == "input:checkbox":
            for box in control.all():
                box.set_checked(box.get_attribute("value") in value)
        else:
            control.fill(str(value))

    def value(self, name: str):
        """What field `name` holds now, read back from its control."""
        control = self.control(name)
        kind = control.first.evaluate("e => e.tagName === 'INPUT' ? 'input:' + e.type : e.tagName.toLowerCase()")
        if kind == "input:radio":
            checked = self.page.locator(f"input[name='f.{name}']:checked")
            return checked.get_attribute("value") if checked.count() else None
        if kind == "input:checkbox":
            boxes = control.all()
            if len(boxes) == 1 and boxes[0].get_attribute("value") in (None, "on", "true"):
                return boxes[0].is_checked()  # a yes/no
            return [box.get_attribute("value") for box in boxes if box.is_checked()]
        return control.input_value()

    def submit(self, outcome: str | None = None) -> None:
        """Press the form's button: the one for `outcome`, or its only submit button."""
        form = self.main_form()
        if outcome:
            button = form.locator(f"button[name='outcome'][value='{outcome}']")
        else:
            button = form.locator("button[type='submit']:not([formaction]), button:not([type]):not([formaction]), "
                                  "input[type='submit']").first  # (a printout's download button posts elsewhere)
        # Wait for the server's answer to the post, so that a next goto cannot cut the submission short.
        with self.page.expect_response(lambda r: r.request.method == "POST"
                                       and r.request.resource_type == "document"):
            button.click()
        self.page.wait_for_load_state()

    def instance_id(self) -> int:
        """After a start or a completed task: we are on /instances/{id}."""
        expect(self.page).to_have_url(re.compile(r"/instances/\d+$"))
        return int(self.path().rsplit("/", 1)[1])

    # -- tasks ------------------------------------------------------------------------------------------------

    def open_task(self, iid: int, title: str | None = None) -> str:
        """From the inbox, open this user's task of instance `iid` (the one titled `title` if several)."""
        self.goto("/")
        links = self.page.locator(f"a[href^='/tasks/{iid}-']")
        if title:
            rows = self.page.locator("tr, li, .task, article").filter(has_text=title).locator(
                f"a[href^='/tasks/{iid}-']")
            links = rows if rows.count() else links.filter(has_text=title)
        expect(links.first).to_be_visible()
        links.first.click()
        expect(self.page).to_have_url(re.compile(rf"/tasks/{iid}-\d+$"))
        if title:
            expect(self.page.locator("body")).to_contain_text(title)
        return self.path().rsplit("/", 1)[1]

    def print_and_download(self, dest: Path, link: Locator | None = None) -> bytes:
        """Click a printout's download link; save the file to `dest` and return its bytes."""
        link = link or self.page.locator("form[action*='/printouts/'] button, button[formaction*='/printouts/']").first
        with self.page.expect_download() as info:
            link.click()
        download = info.value
        assert download.failure() is None, download.failure()
        download.save_as(dest)
        return dest.read_bytes()

    def screenshot(self, folder: Path, name: str) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path

    def squeezed_scrollers(self) -> list:
        """Boxes that scroll sideways on their own (a wide table's wrapper) but do not take the width their
        parent offers them, as when they sit beside a float: [selector, width, width available]."""
        return self.page.evaluate("""() => [...document.querySelectorAll('main *')].filter(e => {
            const o = getComputedStyle(e).overflowX;
            return (o === 'auto' || o === 'scroll') && e.offsetParent !== null;
        }).map(e => {
            const p = getComputedStyle(e.parentElement);
            const room = e.parentElement.clientWidth - parseFloat(p.paddingLeft) - parseFloat(p.paddingRight);
            const where = e.closest('section') ? 'section.' + e.closest('section').className.replace(/ /g, '.') : '';
            const what = (where + ' ' + e.tagName.toLowerCase() + '.' + [...e.classList].join('.')).trim();
            return [what, Math.round(e.getBoundingClientRect().width), Math.round(room)];
        }).filter(([, width, room]) => width < room - 2)""")

    def scroll_width(self) -> int:
        """The document's width in CSS pixels: more than the viewport's means a horizontal scroll."""
        return self.page.evaluate("document.documentElement.scrollWidth")


def _radio_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
