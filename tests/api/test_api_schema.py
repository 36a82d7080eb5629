"""Schemathesis against the API's own OpenAPI document: generated requests, a bounded number per
operation, each sent with a working token; no answer is a server error or breaks the schema
(status, content type and body as documented)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.web.conftest import TEST_HOST

EXAMPLES_PER_OPERATION = 12
# Generated codes name nothing: each operation on one thing runs again on a real one.
REAL_CODES = {"/api/v1/orgs/": "330105", "/api/v1/projects/": "GS-2023-004"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def send(api, case, role: str):
    """Send a generated case through the test client with the token of role; return the answer."""
    request = case.as_transport_kwargs(
        base_url=f"http://{TEST_HOST}", headers={"Authorization": api.as_role(role)["Authorization"]}
    )
    body = {key: request[key] for key in ("json", "data") if key in request}
    if isinstance(body.get("data"), bytes | str):
        body = {"content": body["data"]}
    return api.client.request(
        request["method"], request["url"], params=request.get("params"),
        headers=request["headers"], **body,
    )  # fmt: skip


def check_operation(api, operation, code: str | None) -> None:
    """Send generated requests of one operation (on code, if given); fail on any bad answer."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case) -> None:
        if code is not None:
            case.path_parameters = {**case.path_parameters, "code": code}
        api.client.cookies.clear()
        case.validate_response(send(api, case, "admin"), checks=CHECKS)

    answers_as_documented()


def test_every_operation_answers_as_documented(api):
    schema = schemathesis.openapi.from_dict(api.client.get("/api/v1/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        check_operation(api, operation, None)
        for prefix, code in REAL_CODES.items():
            if operation.path.startswith(prefix) and "{code}" in operation.path:
                check_operation(api, operation, code)
