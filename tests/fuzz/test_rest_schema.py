"""The REST API (and the device API as documented) fuzzed from our own OpenAPI document with
schemathesis, as the tenant administrator and as the system administrator: never a 5xx, never
a traceback in the server log.

Only schemathesis' ``not_a_server_error`` check runs: the document describes bodies as bare
objects and answers as 200, so schema conformance would only test the document's vagueness.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from tests.api_client import Api
from tests.fuzz import budget, entities
from tests.fuzz.findings import Findings
from tests.live import SYSADMIN, TENANT_ADMIN, LiveServer

#: A fuzz run takes minutes by design (``THINGPORT_FUZZ_EXAMPLES``): beyond the default timeout.
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]

#: Deletions run last, so that the entities they may remove are there for everything else.
LAST = {"DELETE": 1}
#: Nothing waits longer than the server's shortened timeouts (see conftest); this is generous.
REQUEST_TIMEOUT_S = 30
#: Body fields that are stored as JSON and written back.
DEEP_FIELDS = ["additionalInfo", "params", "profileData", "value", "configuration"]
#: The X-Authorization header sent: mostly the caller's token; sometimes none, or a broken one.
AUTH = st.one_of(
    st.just("valid"),
    st.sampled_from(["", "Bearer ", "Bearer x.y.z", "eyJhbGciOiJIUzI1NiJ9..",
                     "Basic Zm9vOmJhcg=="]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
        lambda text: "Bearer " + text),
)


def fuzz_schema(server: LiveServer, username: str, password: str, examples: int) -> Findings:
    """Send ``examples`` generated requests (half valid per the document, half not) to every
    operation, logged in as ``username``; what went wrong is in the returned Findings."""
    made = entities.make(Api(server.url).login())
    token = Api(server.url).login(username, password).token
    # Our token goes on every request (below); left to schemathesis, the security header would
    # be dropped or garbled in most negative cases, and those would all stop at the 401.
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_url(f"{server.url}/v3/api-docs", config=config)
    findings = Findings(server.log_path)
    operations = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            findings.problems.append(f"schemathesis cannot use an operation: {result.err()}")
            continue
        operations.append(result.ok())
    operations.sort(key=lambda op: (LAST.get(op.method.upper(), 0), op.path, op.method))
    session = requests.Session()
    for operation in operations:
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                             operation.as_strategy(GenerationMode.NEGATIVE))

        @given(case=strategy, broken_auth=st.integers(0, 9), auth=AUTH, data=st.data())
        @budget.fuzz_settings(examples)
        def send(case: Any, broken_auth: int, auth: str, data: st.DataObject) -> None:
            for name in list(case.path_parameters or {}):
                known = made.by_parameter.get(name)
                if known and data.draw(st.booleans()):
                    case.path_parameters[name] = data.draw(st.sampled_from(known))
            # One request in ten goes with a broken header.
            valid = broken_auth != 0 or auth == "valid"
            headers = {"X-Authorization": f"Bearer {token}" if valid else auth}
            # JSON nested deeper than responses can hold, which the document cannot describe.
            if isinstance(case.body, dict) and data.draw(st.integers(0, 9)) == 0:
                field = data.draw(st.sampled_from(DEEP_FIELDS))
                depth = data.draw(st.sampled_from([199, 200, 201, 254, 255, 300, 1000, 1025]))
                send_deep(case, field, depth, session, headers, findings)
            else:
                send_case(case, session, headers, findings)

        send()
    return findings


def send_deep(case: Any, field: str, depth: int, session: requests.Session,
              headers: dict[str, str], findings: Findings) -> None:
    """The case with ``field`` set to lists nested ``depth`` deep, written here: schemathesis
    hashes a body before sending it, and past 255 levels its hash costs the square of the depth
    (most of this test's time, when the body went through ``case.call``)."""
    kwargs = case.as_transport_kwargs(headers=headers)
    if "json" not in kwargs:  # a multipart upload: its fields are not JSON
        send_case(case, session, headers, findings)
        return
    del kwargs["json"]
    placeholder = "\u0000deep\u0000"
    text = json.dumps({**case.body, field: placeholder})
    kwargs["data"] = text.replace(json.dumps(placeholder), "[" * depth + "]" * depth, 1)
    kwargs["headers"] = {**kwargs.get("headers", {}), "Content-Type": "application/json"}
    reproducer = f"{case.method} {case.formatted_path} with {field} nested {depth} deep"
    try:
        response = session.request(**kwargs, timeout=REQUEST_TIMEOUT_S)
    except requests.RequestException as exc:
        findings.answered(None, reproducer, f"no answer: {exc!r}")
        return
    findings.answered(response.status_code, reproducer, server_error(case, response, headers))


def send_case(case: Any, session: requests.Session, headers: dict[str, str],
              findings: Findings) -> None:
    """One request; a 5xx (schemathesis' check) or no answer at all is recorded."""
    try:
        reproducer = case.as_curl_command(headers=headers)
    except Exception as exc:  # a case curl cannot express still gets sent
        reproducer = f"{case.method} {case.formatted_path} ({exc})"
    try:
        response = case.call(session=session, headers=headers, timeout=REQUEST_TIMEOUT_S)
    except requests.RequestException as exc:
        findings.answered(None, reproducer, f"no answer: {exc!r}")
        return
    findings.answered(response.status_code, reproducer, server_error(case, response, headers))


def server_error(case: Any, response: requests.Response, headers: dict[str, str]) -> str | None:
    """What schemathesis' ``not_a_server_error`` check says of the answer, None when it
    passes."""
    try:
        case.validate_response(response, checks=[not_a_server_error], headers=headers)
    except FailureGroup as exc:
        return str(exc)
    return None


@pytest.mark.parametrize(("user", "share"), [(TENANT_ADMIN, 1.0), (SYSADMIN, 0.5)],
                         ids=["tenant_admin", "sysadmin"])
def test_rest_api_survives_schemathesis(fuzz_server: LiveServer, user: tuple[str, str],
                                        share: float) -> None:
    """The system administrator may call few operations (most answer 403): half as many."""
    started = time.monotonic()
    findings = fuzz_schema(fuzz_server, *user, max(1, round(budget.examples() * share)))
    print(f"schemathesis as {user[0]}: {findings.summary()} "
          f"in {time.monotonic() - started:.1f}s")
    findings.check()
