"""GET /v1/policy/task-types: the list the integrations' Task Type pickers load."""
from __future__ import annotations

from app.routing.state import current_policy


def test_task_types_list_the_policy_with_descriptions(client, make_key, app):
    key = make_key(scopes=["route"])  # any valid key may read it
    response = client.get("/v1/policy/task-types", headers={"X-API-Key": key})
    assert response.status_code == 200
    items = response.get_json()["items"]
    with app.app_context():
        policy = current_policy()
    assert [item["name"] for item in items] == sorted(policy.task_types)
    by_name = {item["name"]: item for item in items}
    for name, task in policy.task_types.items():
        assert by_name[name]["description"] == task.description
        assert by_name[name]["tier"] == task.tier


def test_task_types_need_a_key(client):
    response = client.get("/v1/policy/task-types")
    assert response.status_code == 401
    assert response.get_json()["error"]["field"] == "Authorization"
    assert client.get("/v1/policy/task-types", headers={"X-API-Key": "tg_nope"}).status_code == 401


def test_task_types_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "get" in paths["/v1/policy/task-types"]
