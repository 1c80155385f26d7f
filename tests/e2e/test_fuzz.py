"""No input gives a 500: every operation of every service, fuzzed from its own OpenAPI document.

The four services run as processes (the e2e stack) against real PostgreSQL and Kafka;
schemathesis generates requests per operation (valid and invalid ones) and any 5xx fails.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st

SERVICES = ("intake", "governance", "budget", "metrics")


@pytest.mark.parametrize("service", SERVICES)
def test_no_input_gives_a_server_error(e2e_stack, service: str) -> None:
    url = e2e_stack.url(service)
    headers = e2e_stack.auth("fuzz-admin", "ops_admin", team="growth")
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"{service} publishes no operations"
    server_errors: list[str] = []

    @hypothesis.given(data=st.data())
    @hypothesis.settings(max_examples=10 * len(operations), deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    def probe(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(operations))
        case = data.draw(operation.as_strategy())
        response = case.call(base_url=url, headers=headers)
        if response.status_code >= 500:
            server_errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                 f"{response.text[:300]}")

    probe()
    assert server_errors == []
