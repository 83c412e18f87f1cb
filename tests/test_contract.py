"""The API contract: schemathesis generates requests from /api/openapi.json (valid ones, and ones the document
says are invalid, and methods a path does not take) against the app in-process, as an administrator and as a
客服; every answer must be documented (status, media type, body), invalid input refused with 4xx, valid input
never refused with 422, the token honoured, no 5xx. GOLDKEY_CONTRACT_EXAMPLES sets the examples per operation
(.ci/run runs more)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from engine import definitions
from server.app import create_app

from .conftest import REPO
from .procedures.test_golden_key import PAID

EXAMPLES = int(os.environ.get("GOLDKEY_CONTRACT_EXAMPLES", "10"))
_HOME = Path(tempfile.mkdtemp(prefix="goldkey-contract-"))
atexit.register(shutil.rmtree, _HOME, True)
APP = create_app(_HOME / "contract.db", definitions.load_strict(REPO), tick_seconds=0)
_engine = APP.state.engine
_engine.add_user("boss", ["manager"], "經理")
_engine.add_user("wang", ["concierge"], "王小明")
TOKENS = {name: f"Bearer {_engine.new_token(name)}" for name in ("boss", "wang")}
_engine.start("golden_key_service", "wang", PAID)  # (something to find: instance 1, its task, its register)


async def served(scope, receive, send):
    """The app as a running server holds it: started once (schemathesis' client would start and stop it, and so
    close its database, around every request)."""
    if scope["type"] != "lifespan":
        return await APP(scope, receive, send)
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


schema = schemathesis.openapi.from_asgi("/api/openapi.json", served)


@schema.hook
def filter_query(ctx, query) -> bool:
    """A query with a parameter of no value is sent without it: a case built to have an extra parameter would reach
    the server without one, and its valid request be taken for invalid data accepted."""
    return query is None or all(value is not None for value in query.values())
bounded = settings(max_examples=EXAMPLES, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                          HealthCheck.function_scoped_fixture])


def call(case, who: str) -> None:
    # An upload's kind is read from its bytes (PNG, JPEG, PDF; a signature: a whole PNG), which a schema cannot say:
    # a schema-valid body of other bytes is rightly a 422 there, so that one check is left out for those operations.
    excluded = [checks.positive_data_acceptance] if case.operation.path in ("/api/attachments",
                                                                         "/api/signatures") else []
    case.call_and_validate(headers={"Authorization": TOKENS[who]}, excluded_checks=excluded)


@schema.parametrize()
@bounded
def test_the_api_keeps_its_contract_for_an_administrator(case):
    call(case, "boss")


@schema.parametrize()
@bounded
def test_the_api_keeps_its_contract_for_the_front_desk(case):
    call(case, "wang")
