"""The package's answers are the node's own models: each record a method
returns validates against the schema the node's OpenAPI document gives for
the route it comes from."""

import json
import urllib.request

import jsonschema
import pytest


def _document(devnet) -> dict:
    url = (devnet / "console-url").read_text() + "/v1/openapi.json"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def _answer_schema(document: dict, path: str) -> dict:
    """The JSON schema of GET `path`'s 200 answer, its references resolved
    against the document's components."""
    answer = document["paths"][path]["get"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def _check(document: dict, path: str, record) -> None:
    jsonschema.Draft202012Validator(_answer_schema(document, path)).validate(record)


def test_every_answer_validates_against_the_nodes_openapi_document(devnet, client, tmp_path):
    document = _document(devnet)
    assert document["openapi"].startswith("3.1"), document["openapi"]
    result = client.run(
        image="gpunet/busybox",
        command="echo checked",
        max_price=50,
        timeout_secs=60,
        outputs=tmp_path / "checked",
    )
    _check(document, "/v1/orders/{id}", client.describe(result.id))
    _check(document, "/v1/orders/{id}", result.order)
    orders = client.list()
    assert orders, "the run is listed"
    _check(document, "/v1/accounts/{address}/orders", orders)
    _check(document, "/v1/status", client.status())
    machines = client.machines("verified=true")
    assert machines, "the devnet's machines"
    _check(document, "/v1/machines", machines)

    # And the check has teeth: a record with a field of the wrong type fails.
    broken = {**client.describe(result.id), "order": "not a number"}
    with pytest.raises(jsonschema.ValidationError):
        _check(document, "/v1/orders/{id}", broken)
