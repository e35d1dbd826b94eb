"""The Make blueprints pass the validator written from Make's rules, and the validator catches breakage."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from tests.integrations.make_validator import references, validate, validate_file

BLUEPRINT_DIR = Path(__file__).resolve().parents[2] / "make-blueprints"
BLUEPRINTS = sorted(BLUEPRINT_DIR.glob("*.blueprint.json"))
PLACEHOLDER = re.compile(r"YOUR-[A-Z-]+[A-Z]")

# The SME tasks of docs/architecture.md, "Integrations" and the Tiergate call each blueprint makes.
TASKS = {
    "list-classification": ("/v1/classify", None),
    "crm-cleanup": ("/v1/fallback", "crm_cleanup"),
    "support-reply-review": ("/v1/fallback", "support_reply"),
}
# Tiergate's callbacks arrive on a webhook of their own, in a second scenario: (event, request scenario).
CALLBACK_SCENARIOS = {
    "list-classification-results": ("job.finished", "list-classification"),
    "support-reply-review-decisions": ("review.decided", "support-reply-review"),
}
CALLBACK_URL = "YOUR-MAKE-CALLBACK-WEBHOOK-URL?token=YOUR-CALLBACK-TOKEN"


def load(name: str) -> dict:
    return json.loads((BLUEPRINT_DIR / f"{name}.blueprint.json").read_text(encoding="utf-8"))


def modules(flow: list) -> list[dict]:
    found = []
    for module in flow:
        found.append(module)
        for route in module.get("routes") or []:
            found.extend(modules(route["flow"]))
        found.extend(modules(module.get("onerror") or []))
    return found


def test_one_blueprint_per_sme_task_and_one_per_callback():
    assert sorted(path.name.removesuffix(".blueprint.json") for path in BLUEPRINTS) == sorted(
        [*TASKS, *CALLBACK_SCENARIOS])


@pytest.mark.parametrize("name", sorted(CALLBACK_SCENARIOS))
def test_callbacks_have_their_own_webhook_and_a_token_filter(name):
    event, request_scenario = CALLBACK_SCENARIOS[name]
    flow = load(name)["flow"]
    assert flow[0]["module"] == "gateway:CustomWebHook"
    conditions = flow[1]["filter"]["conditions"][0]
    assert {"a": "{{1.event}}", "o": "text:equal", "b": event} in conditions
    assert {"a": "{{1.token}}", "o": "text:equal", "b": "YOUR-CALLBACK-TOKEN"} in conditions
    # The request scenario points Tiergate at this scenario's webhook, not at its own.
    (call,) = [m for m in modules(load(request_scenario)["flow"]) if m["module"] == "http:MakeRequest"
               and m["mapper"]["url"].startswith("https://YOUR-TIERGATE-HOST/")]
    assert f'"callback_url": "{CALLBACK_URL}"' in call["mapper"]["jsonStringBodyContent"]
    assert "{{1.event}}" not in json.dumps(load(request_scenario)), "requests and callbacks share no webhook"


@pytest.mark.parametrize("path", BLUEPRINTS, ids=lambda path: path.stem)
def test_blueprint_passes_the_validator(path):
    report = validate_file(path)
    assert report.ok, str(report)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_blueprint_calls_tiergate_with_the_api_key_header(name):
    endpoint, task_type = TASKS[name]
    calls = [m for m in modules(load(name)["flow"])
             if m["module"] == "http:MakeRequest" and m["mapper"]["url"].startswith("https://YOUR-TIERGATE-HOST/")]
    assert len(calls) == 1
    mapper = calls[0]["mapper"]
    assert mapper["url"] == f"https://YOUR-TIERGATE-HOST{endpoint}"
    assert mapper["method"] == "post" and mapper["contentType"] == "json"
    assert {"name": "X-API-Key", "value": "YOUR-TIERGATE-API-KEY"} in mapper["headers"]
    if task_type:
        assert f'"task_type": "{task_type}"' in mapper["jsonStringBodyContent"]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_blueprint_has_trigger_router_on_needs_review_and_webhook_answer(name):
    """Per task, across its request scenario and (when it has one) its callback scenario."""
    flow = load(name)["flow"]
    used = [m["module"] for m in modules(flow)]
    assert flow[0]["module"] == "gateway:CustomWebHook"
    assert "gateway:WebhookRespond" in used
    pair = [flow] + [load(callback)["flow"] for callback, (_, request) in CALLBACK_SCENARIOS.items() if request == name]
    filters = [json.dumps(m["filter"]) for f in pair for m in modules(f) if m.get("filter")]
    assert any("needs_review" in f and "boolean:equal" in f for f in filters)


def test_a_blueprint_reads_the_tiergate_answer_with_parse_json():
    parsed = [m for name in TASKS for m in modules(load(name)["flow"]) if m["module"] == "json:ParseJSON"]
    assert parsed and all(m["mapper"]["json"].endswith(".data}}") for m in parsed)


@pytest.mark.parametrize("path", BLUEPRINTS, ids=lambda path: path.stem)
def test_every_placeholder_is_explained_in_the_readme(path):
    readme = (BLUEPRINT_DIR / "README.md").read_text(encoding="utf-8")
    placeholders = set(PLACEHOLDER.findall(path.read_text(encoding="utf-8")))
    assert placeholders, "a blueprint without placeholders would carry someone's real URL or key"
    assert not {p for p in placeholders if f"`{p}`" not in readme}


def test_reference_scanner_ignores_string_literals_and_functions():
    assert references('{{ifempty(1.a; "2.b")}} {{formatDate(now; "YYYY")}} {{`3`.x}} {{10.data.items[1].id}}') \
        == {1, 3, 10}


# ---- the validator rejects what Make's rules forbid -------------------------------------------------

def _first_http(bp: dict) -> dict:
    return next(m for m in modules(bp["flow"]) if m["module"] == "http:MakeRequest")


def _first_router(bp: dict) -> dict:
    return next(m for m in modules(bp["flow"]) if m["module"] == "builtin:BasicRouter")


def _duplicate_id(bp):
    modules(bp["flow"])[-1]["id"] = 1


def _string_id(bp):
    bp["flow"][0]["id"] = "1"


def _no_version(bp):
    bp["metadata"]["version"] = 2


def _no_scenario(bp):
    del bp["metadata"]["scenario"]


def _no_orphans(bp):
    del bp["metadata"]["designer"]


def _extra_top_level(bp):
    bp["scheduling"] = {"type": "immediately"}


def _filter_on_first(bp):
    bp["flow"][0]["filter"] = {"name": "x", "conditions": [[{"a": "{{1.event}}", "o": "exist"}]]}


def _forward_reference(bp):
    later = max(m["id"] for m in modules(bp["flow"]))
    _first_http(bp)["mapper"]["url"] += f"?x={{{{{later}.value}}}}"


def _missing_module_reference(bp):
    _first_http(bp)["mapper"]["url"] += "?x={{99.value}}"


def _sibling_route_reference(bp):
    router = _first_router(bp)
    other = router["routes"][1]["flow"][0]["id"]
    router["routes"][0]["flow"][0]["mapper"]["note"] = f"{{{{{other}.value}}}}"


def _self_reference(bp):
    http = _first_http(bp)
    http["mapper"]["url"] += f"?x={{{{{http['id']}.data}}}}"


def _unknown_module(bp):
    _first_http(bp)["module"] = "http:ActionSendDataa"


def _old_http_version(bp):
    _first_http(bp)["version"] = 3


def _connection_binding(bp):
    _first_http(bp)["parameters"]["__IMTCONN__"] = 123456


def _hook_binding(bp):
    bp["flow"][0]["parameters"]["hook"] = 987654


def _exporter_metadata(bp):
    bp["flow"][0]["metadata"]["restore"] = {"parameters": {"hook": {"label": "My hook"}}}


def _no_designer(bp):
    del _first_http(bp)["metadata"]["designer"]


def _router_with_mapper(bp):
    _first_router(bp)["mapper"] = {}


def _router_with_filter(bp):
    _first_router(bp)["filter"] = {"name": "x", "conditions": [[{"a": "{{1.x}}", "o": "exist"}]]}


def _router_without_routes(bp):
    _first_router(bp)["routes"] = []


def _empty_route(bp):
    _first_router(bp)["routes"][0]["flow"] = []


def _bad_operator(bp):
    filtered = next(m for m in modules(bp["flow"]) if m.get("filter"))
    filtered["filter"]["conditions"][0][0]["o"] = "equals"


def _leaked_email(bp):
    _first_http(bp)["mapper"]["headers"].append({"name": "From", "value": "owner@acme-shop.de"})


def _leaked_key(bp):
    _first_http(bp)["mapper"]["headers"][0]["value"] = "tg_3f9a8b7c6d5e4f3a2b1c0d9e"


BREAKAGES = [
    _duplicate_id, _string_id, _no_version, _no_scenario, _no_orphans, _extra_top_level, _filter_on_first,
    _forward_reference, _missing_module_reference, _sibling_route_reference, _self_reference,
    _unknown_module, _old_http_version, _connection_binding, _hook_binding, _exporter_metadata,
    _no_designer, _router_with_mapper, _router_with_filter, _router_without_routes, _empty_route,
    _bad_operator, _leaked_email, _leaked_key,
]


def _breakable(name: str, breakage) -> bool:
    """Whether the blueprint has the part a breakage damages (a callback scenario may have no HTTP call)."""
    try:
        breakage(copy.deepcopy(load(name)))
    except (StopIteration, IndexError, KeyError):
        return False
    return True


@pytest.mark.parametrize(("name", "breakage"), [
    pytest.param(name, breakage, id=f"{breakage.__name__.strip('_')}-{name}")
    for name in sorted([*TASKS, *CALLBACK_SCENARIOS]) for breakage in BREAKAGES if _breakable(name, breakage)])
def test_validator_rejects_a_broken_variant(name, breakage):
    broken = copy.deepcopy(load(name))
    breakage(broken)
    assert not validate(broken).ok


def test_validator_rejects_what_is_not_a_blueprint():
    assert not validate([]).ok
    assert not validate({"name": "x", "flow": [], "metadata": {"version": 1}}).ok
    assert not validate({"name": "x", "flow": ["module"], "metadata": {}}).ok
