"""The people of a site, as the Engine sees them: users, their roles and deputies, passwords and tokens, and who
may do what (start, see, act, administer). A part of the Engine (a base class of it); the rules of seeing
live in engine/access.py."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

from . import access, credentials
from .core import Actor, iso
from .errors import Forbidden, Invalid, NotFound
from .model import Registry, Workflow
from .steps.routing import person_role
from .store import COMPANY, DEFAULT_SITE

ACTOR_TTL = 1.0  # seconds
TOKEN_DAYS = 90  # an API token's life unless asked otherwise
MAX_NAME = 64  # characters of a user's name
TOKEN_ID = 12  # characters of a token's hash that name it
SESSION_LIFE = timedelta(hours=12)  # a signed-in session's, from its login


class People:
    """Users and access, for the Engine (which provides `store`, `registry`, `clock` and the actor cache)."""

    store: object
    registry: Registry
    clock: object
    _actors: dict[tuple, object]
    _actors_read: float

    def actor(self, user: str, now: datetime, site: str = DEFAULT_SITE) -> Actor:
        """The user's roles and deputyships today at `site` (those granted there and the company's, at '*'; `site`
        '*': the company's only). Read at most every ACTOR_TTL seconds (a change made by another process takes
        effect within that time; one made through this engine at once)."""
        key = (user, self._day(now), site)
        actor = self._cached_actors().get(key)
        if actor is None:
            triples = self._grants(user, key[1])
            held = [(r, p) for r, p, s in triples if s in (site, COMPANY)]
            own = frozenset(r for r, p in held if p is None)
            deputy_for: dict[str, set[str]] = {}
            for role, principal in held:
                if principal is not None:
                    deputy_for.setdefault(principal, set()).add(role)
            actor = self._actors[key] = Actor(user, own, tuple((p, frozenset(r))
                                                                for p, r in sorted(deputy_for.items())))
        return actor

    def visible_sites(self, user: str, now: datetime) -> list[str] | None:
        """The sites where the user holds a role (own or deputised) today; None: every site (a company role)."""
        sites = {s for _, _, s in self._grants(user, self._day(now))}
        return None if COMPANY in sites else sorted(sites)

    def persons(self, user: str, now: datetime) -> frozenset[str]:
        """The task roles naming a person that are the user's: their own and, today, those they deputise for."""
        principals = {p for _, p, _ in self._grants(user, self._day(now)) if p is not None}
        return frozenset(person_role(p) for p in {user, *principals})

    def actors_by_site(self, user: str) -> dict[str, Actor]:
        """The user's actor today at each site where they hold a role (every site for a company role)."""
        now = self.clock()
        visible = self.visible_sites(user, now)
        return {s: self.actor(user, now, s) for s in (list(self.site_titles()) if visible is None else visible)}

    def _day(self, now: datetime) -> str:
        """Today's date where deputyships are dated (goldkey.yaml's time zone)."""
        return now.astimezone(self.registry.site.tz).date().isoformat()

    def _cached_actors(self) -> dict:
        """Actors by (user, day, site) and grants by (user, day, None), read again after ACTOR_TTL seconds."""
        moment = time.monotonic()
        if moment - self._actors_read > ACTOR_TTL:
            self._actors.clear()
            self._actors_read = moment
        return self._actors

    def _grants(self, user: str, day: str) -> list[tuple[str, str | None, str]]:
        key = (user, day, None)
        cached = self._cached_actors().get(key)
        if cached is None:
            exists, cached = self.store.actor_roles(user, day)
            if not exists:
                raise NotFound(f"沒有使用者「{user}」；請先用 goldkey users add 建立")
            self._actors[key] = cached
        return cached

    # --- who may do what --------------------------------------------------------------------------------
    def roles_of(self, user: str) -> frozenset[str]:
        """The user's roles today at any site, own and deputised."""
        return frozenset(r for r, _, _ in self._grants(user, self._day(self.clock())))

    def may_start(self, user: str, workflow_id: str) -> bool:
        return bool(self.roles_of(user) & set(self.registry.workflow(workflow_id).start.roles))

    def may_view(self, user: str, wf: Workflow, site: str | None = None) -> bool:
        """May the user see every instance of `wf` at `site` (None: at some site), print them and read its
        register?"""
        now = self.clock()
        sites = [site] if site else (self.visible_sites(user, now) or [COMPANY])
        return any(access.may_view(self.actor(user, now, s), wf) for s in sites)

    def is_admin(self, user: str) -> bool:
        """May the user check and reload the definitions and manage users (`admin_roles` of goldkey.yaml, held
        for the whole company: the definitions are the company's)?"""
        return bool(self.actor(user, self.clock(), COMPANY).every_role & set(self.registry.site.admin_roles))

    def require_admin(self, user: str) -> None:
        if not self.is_admin(user):
            site = self.registry.site
            who = site.role_titles(site.admin_roles) or "（goldkey.yaml 未指定 admin_roles）"
            raise Forbidden(f"只有管理人員（{who}）可以管理定義與使用者")


    # --- users --------------------------------------------------------------------------------------
    def user_exists(self, name: str) -> bool:
        return self.store.user_exists(name)

    def users(self) -> list[dict]:
        """Every user with their display name and roles (`role_titles` in words)."""
        site = self.registry.site
        return [dict(u, role_titles=site.role_titles(u["roles"])) for u in self.store.users()]

    def display_names(self) -> dict[str, str]:
        """login -> the name staff read (for users who have one)."""
        return self.store.display_names()

    @property
    def session_secret(self) -> str:
        """The secret that signs this site's session cookies (made with the database)."""
        return self.store.setting("session_secret") or ""

    def add_user(self, name: str, roles: list[str], title: str | None = None, site: str | None = None) -> dict:
        """A user (or an existing one with more roles), the roles granted at `site` ('*': the whole company; None:
        the company when there is one site, else it must be said)."""
        site = self._grant_site(site)
        unknown = [r for r in roles if r not in self.registry.site.roles]
        if unknown:
            known = "、".join(f"{k}（{v}）" for k, v in self.registry.site.roles.items())
            raise Invalid(f"沒有角色：{'、'.join(unknown)}；可用角色：{known}")
        if not name or not name.strip():
            raise Invalid("使用者名稱不可為空")
        if len(name) > MAX_NAME and not self.store.user_exists(name):
            raise Invalid(f"使用者名稱最多 {MAX_NAME} 個字元")
        self.store.add_user(name, roles, iso(self.clock()), title, site)
        self._actors.clear()
        grants = self.store.user_roles(name)
        return {"name": name, "roles": sorted({r for rs in grants.values() for r in rs}), "sites": grants}

    def _grant_site(self, site: str | None) -> str:
        sites = {s["id"] for s in self.store.sites()}
        if site is None:
            if sites == {DEFAULT_SITE}:
                return COMPANY
            raise Invalid(f"有多個管理處，請指定角色所屬的管理處（{'、'.join(sorted(sites))}），或 '*' 表示全公司")
        if site != COMPANY and site not in sites:
            raise NotFound(f"沒有管理處「{site}」；可用：{'、'.join(sorted(sites))}，或 '*' 表示全公司")
        return site

    def set_password(self, name: str, password: str) -> None:
        if not self.store.user_exists(name):
            raise NotFound(f"沒有使用者「{name}」")
        if len(password) < 8:
            raise Invalid("密碼至少 8 個字元", [{"field": "password", "message": "密碼至少 8 個字元"}])
        self.store.set_password(name, credentials.hash_password(password))  # (other sessions end)

    def login(self, name: str, password: str) -> bool:
        """Does the password match? (A user without a password, or without an account, cannot log in; the
        answer takes as long either way.) A hash made with weaker settings is replaced by one of today's.
        The server runs the same three parts, the hash on a thread of its own: `password_hash`,
        credentials.check_password, `logged_in`."""
        stored = self.password_hash(name)
        return self.logged_in(name, password, stored, credentials.check_password(password, stored))

    def password_hash(self, name: str) -> str | None:
        """The stored hash to check a login against (None: no such user, or no password)."""
        return self.store.password_hash(name)

    def logged_in(self, name: str, password: str, stored: str | None, matched: bool) -> bool:
        """After the check: `matched`, and a hash made with weaker settings replaced by one of today's."""
        if matched and credentials.needs_rehash(stored):
            self.store.set_password(name, credentials.hash_password(password), end_sessions=False)
        return matched

    def new_session(self, name: str) -> str:
        """Sign `name` in: a new session's id (kept in the signed cookie; only its hash is stored)."""
        session = credentials.new_token()
        now = self.clock()
        self.store.add_session(credentials.token_hash(session), name, iso(now), iso(now - SESSION_LIFE))
        return session

    def session_user(self, session: str) -> str | None:
        """The user of a session that is still on (not signed out, not older than SESSION_LIFE, its password not
        changed since)."""
        return self.store.session_user(credentials.token_hash(session), iso(self.clock() - SESSION_LIFE))

    def end_session(self, session: str) -> None:
        """Sign out: this session stops working (the user's others go on)."""
        self.store.end_session(credentials.token_hash(session))

    def end_sessions(self, name: str) -> None:
        """Sign `name` out everywhere."""
        if not self.store.user_exists(name):
            raise NotFound(f"沒有使用者「{name}」")
        self.store.end_sessions(name)

    def new_token(self, name: str, days: int | None = TOKEN_DAYS) -> str:
        """A new API token for `name`, valid `days` days (None: until revoked), shown once; only its hash is
        kept."""
        if not self.store.user_exists(name):
            raise NotFound(f"沒有使用者「{name}」")
        if days is not None and not 0 < days <= 3660:
            raise Invalid("有效天數應為 1 至 3660 天")
        token = credentials.new_token()
        now = self.clock()
        expires = iso(now + timedelta(days=days)) if days is not None else None
        self.store.add_token(credentials.token_hash(token), name, iso(now), expires)
        return token

    def token_user(self, token: str) -> str | None:
        """The user of a token that is valid now (not expired, not revoked)."""
        return self.store.token_user(credentials.token_hash(token), iso(self.clock()))

    @staticmethod
    def token_id(token: str) -> str:
        """How `tokens` and `revoke_tokens` name a token: the first characters of its hash."""
        return credentials.token_hash(token)[:TOKEN_ID]

    def tokens(self, name: str) -> list[dict]:
        """The user's tokens (by the first characters of their hash), with when they expire and were last used."""
        if not self.store.user_exists(name):
            raise NotFound(f"沒有使用者「{name}」")
        return self.store.tokens(name, TOKEN_ID)

    def revoke_tokens(self, name: str, token_id: str = "") -> int:
        """Revoke one of the user's tokens (its id from `tokens`), or all of them."""
        if not self.store.user_exists(name):
            raise NotFound(f"沒有使用者「{name}」")
        if token_id and not re.fullmatch(r"[0-9a-f]{6,64}", token_id):
            raise Invalid("權杖代號應為 tokens 列出的十六進位代號")
        return self.store.revoke_tokens(name, token_id, iso(self.clock()))

    def set_roles(self, name: str, roles: list[str], site: str | None = None) -> dict:
        """Give a user exactly these roles at `site` (as for add_user), creating the user if needed."""
        site = self._grant_site(site)
        unknown = [r for r in roles if r not in self.registry.site.roles]
        if unknown:
            raise Invalid(f"沒有角色：{'、'.join(unknown)}")
        self.store.set_roles(name, roles, iso(self.clock()), site)
        self._actors.clear()
        return {"name": name, "roles": sorted(roles)}

    def delegate(self, user: str, deputy: str, starts: str, ends: str) -> dict:
        for who in (user, deputy):
            if not self.store.user_exists(who):
                raise NotFound(f"沒有使用者「{who}」")
        if user == deputy:
            raise Invalid("不能指定自己為代理人")
        try:
            first, last = (datetime.strptime(d, "%Y-%m-%d").date() for d in (starts, ends))
        except ValueError:
            raise Invalid("日期格式應為 YYYY-MM-DD，例如 2026-12-01") from None
        if last < first:
            raise Invalid("代理結束日期不可早於開始日期")
        self.store.add_delegation(user, deputy, first.isoformat(), last.isoformat(), iso(self.clock()))
        self._actors.clear()
        return {"user": user, "deputy": deputy, "from": first.isoformat(), "until": last.isoformat()}
