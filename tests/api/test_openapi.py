"""The published OpenAPI document tells the truth about the extension's API.

FastAPI publishes OpenAPI 3.1, whose schemas are JSON Schema: a field documented as
``"type": "string"`` must never be null, and a route documented as JSON must not
answer CSV. Schemathesis checks the live answers against this document in CI
(tools/schemathesis_run.py); these tests pin the two rules that make it true.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import ModelField

from helpers import API, add_machine
from satmachineadmin import models

PREFIX = "/satmachineadmin/api/v1/"


@pytest.fixture(scope="module")
async def openapi(client, super_user) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()


def admits_null(prop: dict[str, Any]) -> bool:
    kinds = prop.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds):
        return True
    return any(admits_null(choice) for choice in prop.get("anyOf", ()))


def api_models() -> list[type[BaseModel]]:
    return [
        value
        for value in vars(models).values()
        if inspect.isclass(value)
        and issubclass(value, BaseModel)
        and value.__module__.startswith(f"{models.__name__}.")
    ]


def nullable(field: ModelField) -> bool:
    """Whether the model takes a null for the field."""
    return field.allow_none and field.field_info.extra.get("nullable") is not False


def test_every_model_documents_its_nullable_fields():
    for model in api_models():
        properties = model.schema()["properties"] if model.__fields__ else {}
        for field in model.__fields__.values():
            prop = properties[field.alias]
            assert "nullable" not in prop, f"{model.__name__}.{field.name}"
            assert admits_null(prop) == nullable(field), (
                f"{model.__name__}.{field.name}: {prop}"
            )


async def test_published_schemas_admit_null_where_the_models_do(openapi):
    schemas = openapi["components"]["schemas"]
    checked = 0
    for model in api_models():
        published = schemas.get(model.__name__)
        if published is None:
            continue
        for field in model.__fields__.values():
            if nullable(field):
                prop = published["properties"][field.alias]
                assert admits_null(prop), f"{model.__name__}.{field.name}: {prop}"
                checked += 1
    # Machine.location, Pairing.used_at, Leg.wallet_id, ... are all published.
    assert checked > 50


async def test_a_null_in_an_answer_is_one_the_schema_admits(client, make_user, openapi):
    operator = await make_user("op")
    machine = await add_machine(client, operator, name="No location")
    assert machine["location"] is None and machine["fiat_code"] is None
    properties = openapi["components"]["schemas"]["Machine"]["properties"]
    for name, value in machine.items():
        if value is None:
            assert admits_null(properties[name]), name


def extension_operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, item in openapi["paths"].items()
        if path.startswith(PREFIX)
        for method, operation in item.items()
    ]


async def test_csv_downloads_are_documented_as_csv(client, make_user, openapi):
    csv_routes = [
        (path, operation)
        for path, method, operation in extension_operations(openapi)
        if path.endswith(".csv")
    ]
    assert {path for path, _ in csv_routes} == {
        f"{PREFIX}settlements.csv",
        f"{PREFIX}lp/distributions.csv",
    }
    user = await make_user("csv")
    for path, operation in csv_routes:
        assert list(operation["responses"]["200"]["content"]) == ["text/csv"], path
        response = await client.get(path, headers=user.headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv"), path


async def test_every_json_route_documents_a_json_answer(openapi):
    for path, method, operation in extension_operations(openapi):
        content = operation["responses"]
        success = next(code for code in content if code.startswith("2"))
        documented = list(content[success].get("content", {}))
        expected = ["text/csv"] if path.endswith(".csv") else ["application/json"]
        assert documented == expected, f"{method.upper()} {path}: {documented}"


async def test_refusals_are_documented_as_lnbits_sends_them(client, make_user, openapi):
    error = openapi["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["detail"]
    for path, method, operation in extension_operations(openapi):
        responses = operation["responses"]
        # LNbits answers a malformed request with 400: a 422 would never come.
        assert "422" not in responses, f"{method.upper()} {path}"
        content = responses["4XX"]["content"]
        assert list(content) == ["application/json"], f"{method.upper()} {path}"
        schema = content["application/json"]["schema"]
        if "$ref" in schema:
            schema = openapi["components"]["schemas"][schema["$ref"].split("/")[-1]]
        assert schema["properties"] == error["properties"], path
    user = await make_user("refused")
    malformed = await client.post(
        f"{API}/machines", json={"name": ""}, headers=user.headers
    )
    assert malformed.status_code == 400, malformed.text
    assert isinstance(malformed.json()["detail"], list)
    missing = await client.get(f"{API}/machines/nope", headers=user.headers)
    assert missing.status_code == 404, missing.text
    assert isinstance(missing.json()["detail"], str)


async def test_a_replayed_manual_settlement_is_a_documented_200(openapi):
    responses = openapi["paths"][f"{PREFIX}settlements/manual"]["post"]["responses"]
    settlement = {"$ref": "#/components/schemas/Settlement"}
    for status in ("200", "201"):
        assert responses[status]["content"]["application/json"]["schema"] == settlement


@pytest.mark.parametrize(
    "body",
    [
        {"cash_in_fee_bps": None},
        {"cash_out_fee_basis": None},
        {"relays": None},
        {"telemetry_retention_days": None},
    ],
)
async def test_a_null_setting_is_refused_not_stored(
    client, super_user, body, super_config
):
    """Null would reach a NOT NULL column (a 500), or worse, a stored config that no
    longer loads; the schema says these fields are never null."""
    response = await super_config.put(body)
    assert response.status_code == 400, response.text
    (error,) = response.json()["detail"]
    assert error["msg"] == f"{next(iter(body))} must not be null"
    config = await client.get(f"{API}/super/config", headers=super_user.headers)
    assert config.status_code == 200, config.text


async def test_a_machine_update_refuses_null_where_the_schema_does(
    client, make_user, openapi
):
    operator = await make_user("op")
    machine = await add_machine(client, operator, name="ATM", location="Lobby")
    path = f"{API}/machines/{machine['id']}"
    properties = openapi["components"]["schemas"]["MachineUpdate"]["properties"]
    for name in ("name", "status", "dispense_confirmation"):
        assert not admits_null(properties[name]), name
        refused = await client.patch(path, json={name: None}, headers=operator.headers)
        assert refused.status_code == 400, refused.text
    assert admits_null(properties["location"])
    cleared = await client.patch(
        path, json={"location": None}, headers=operator.headers
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["location"] is None
