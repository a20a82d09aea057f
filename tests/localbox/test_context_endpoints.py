"""The code-interpreter context endpoints (`/contexts...`) are the only sandbox calls the SDK sends without the
sandbox's access token. A web page (a previewed app, any site in the visitor's browser) must not be able to use
them: requests a browser marks as coming from a page (Origin, Sec-Fetch-*) need the token."""

from __future__ import annotations

import pytest

from tests.localbox.helpers import JUPYTER_PORT, raw_client, sandbox_headers

PAGE_MARKS = [
    {"Origin": "http://8000-lb0000000000000000.localhost:1234"},
    {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"},
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
]


@pytest.mark.parametrize("marks", PAGE_MARKS)
def test_a_web_page_cannot_use_code_contexts_without_the_token(localbox, sandbox, marks) -> None:
    headers = {**sandbox_headers(sandbox, JUPYTER_PORT), **marks}
    with raw_client(localbox) as client:
        assert client.get("/contexts", headers=headers).status_code == 403
        assert client.post("/contexts", headers=headers, json={"language": "python"}).status_code == 403
        default = client.get("/contexts", headers=sandbox_headers(sandbox, JUPYTER_PORT)).json()[0]["id"]
        assert client.post(f"/contexts/{default}/restart", headers=headers).status_code == 403
        assert client.delete(f"/contexts/{default}", headers=headers).status_code == 403
    assert sandbox.run_code("40 + 2", timeout=60).text == "42"


def test_the_sdk_and_token_holders_still_use_code_contexts(localbox, sandbox) -> None:
    context = sandbox.create_code_context(language="python")  # the SDK: no token, no page marks
    assert context.id in [c.id for c in sandbox.list_code_contexts()]
    with_token = {**sandbox_headers(sandbox, JUPYTER_PORT), "X-Access-Token": sandbox._envd_access_token,
                  "Origin": "http://localhost:7860"}
    with raw_client(localbox) as client:
        assert client.get("/contexts", headers=with_token).status_code == 200
    sandbox.remove_code_context(context)
