"""The learned router: scorer fidelity, the premium_share knob, hybrid's use of the LLM router,
policies with other task types, and a clear error for a bad weight file."""
from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.policy import load_policy
from app.policy.schema import KeywordSet, TaskType
from app.routing import RouteInput, RulesRouter
from app.routing.hybrid import rules_cannot_place
from app.routing.learned import LearnedRouter, WeightFileError, read_weights, shipped_model
from app.routing.learned.features import content_features, features
from app.routing.learned.model import WEIGHTS_FILE
from tests.test_classify import app  # noqa: F401  (the app fixture with a provider key)
from tests.test_llm_router import route, router_says

DATA = Path(__file__).resolve().parents[1] / "bench" / "data"
TESTS_DATA = Path(__file__).resolve().parent / "data"
SHARES = (0.05, 0.1, 0.2, 0.4, 0.6, 0.9)
# Free text as n8n/Zapier callers send it; some the rules place, some the learned router, some neither.
FREE_TEXTS = [
    "Please summarize these meeting notes: budget agreed, launch in May",
    "Translate and summarize this",
    "Our bakery opens a second shop in June. Can you help us announce it nicely?",
    "hello, can you help me with something",
    "What is the derivative of x^3 * sin(x)?",
    "Get me the street and the postcode out of this letter: Hauptstr. 5, 10115 Berlin",
    "Is it a good idea to hire a second baker or buy a bigger oven first?",
    "Tell me what you think about this",
    "Write a short poem for our shop window",
    "Classify this lead as B2B or B2C: Nordwind Logistik GmbH, 40 trucks",
]


def with_router(policy, **settings):
    return policy.model_copy(update={"router": policy.router.model_copy(update=settings)})


def test_each_head_scores_like_the_training_code():
    model = shipped_model()
    assert len(model.checks) >= 5, "the training writes reference probabilities for fixed texts"
    for check in model.checks:
        task_types, premium = model.score(check["text"])
        assert premium == pytest.approx(check["premium"], abs=1e-4), check["text"]
        assert task_types.keys() == check["task_type"].keys()
        for name, probability in check["task_type"].items():
            assert task_types[name] == pytest.approx(probability, abs=1e-4), (check["text"], name)


def reference_head(spec: dict):
    """A head's logits as the weight file defines them, summed the plain way: bias + (sum of the known
    features' weights) / sqrt(n). The scorer's packed table must give the same numbers."""
    rows = {feature: weight if isinstance(weight, list) else [weight] for feature, weight in spec["weights"].items()}
    bias = spec["bias"] if isinstance(spec["bias"], list) else [spec["bias"]]

    def logits(found) -> list[float]:
        hits = [rows[feature] for feature in found if feature in rows]
        if not hits:
            return list(bias)
        return [b + sum(column) / math.sqrt(len(hits)) for b, column in zip(bias, zip(*hits))]
    return logits


def softmax(classes: list[str], logits: list[float]) -> dict[str, float]:
    exps = [math.exp(value - max(logits)) for value in logits]
    return {name: value / sum(exps) for name, value in zip(classes, exps)}


def test_the_packed_weight_table_scores_every_head_like_the_plain_sums():
    """Every text the repository holds, every head: the fast scorer equals the definition to 1e-9, so no
    decision moves (the sums are exact integers over weights rounded to ~1e-14)."""
    document = json.loads(gzip.decompress(WEIGHTS_FILE.read_bytes()))
    heads = document["heads"]
    task_type, premium_words, structure, sensitive = (reference_head(heads[name]) for name in
                                                      ("task_type", "premium", "premium_structure", "sensitive"))
    model = read_weights()
    texts = [row["prompt"] for row in map(json.loads, (DATA / "mt_bench.jsonl").read_text().splitlines())]
    for path in [DATA / "user_oriented_labelled.jsonl", TESTS_DATA / "task_types_labelled.jsonl",
                 TESTS_DATA / "sensitive_messages.jsonl"]:
        texts += [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
    texts += ["", "Hello", "x = 5; {}\n" * 400, "Ärger mit der Rechnung, ich will mein Geld zurück! " * 60]
    assert len(texts) > 700
    for text in texts:
        found = features(text)
        task_types, premium = model.score(text)
        expected = softmax(heads["task_type"]["classes"], task_type(found))
        assert task_types.keys() == expected.keys()
        assert max(abs(task_types[name] - expected[name]) for name in expected) < 1e-9, text
        share = heads["premium_structure"]["word_share"]
        z = share * premium_words(found)[0] + (1 - share) * structure(found)[0]
        assert premium == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-9), text
        # The sensitive head reads the content n-grams (what it was trained on), with at least 3 hits.
        content = content_features(text)
        hits = sum(feature in heads["sensitive"]["weights"] for feature in content)
        category, probability = model.sensitive_score(text)
        if hits < 3:
            assert (category, probability) == ("none", 0.0), text
            continue
        expected = softmax(heads["sensitive"]["classes"], sensitive(content))
        assert probability == pytest.approx(1 - expected["none"], abs=1e-9), text
        assert category == max((name for name in expected if name != "none"), key=expected.get), text


def test_premium_share_moves_the_tier2_share_monotonically():
    # Open questions sit on tier1 in the default table: for them the premium signal alone lifts the tier.
    texts = [row["text"] for row in map(json.loads, (DATA / "user_oriented_labelled.jsonl").read_text().splitlines())]
    texts += [json.loads(line)["prompt"] for line in (DATA / "mt_bench.jsonl").read_text().splitlines()]
    policy = load_policy()
    rules = RulesRouter(policy)
    shares, lifted = [], []
    for share in SHARES:
        learned = LearnedRouter(with_router(policy, premium_share=share), rules)
        decisions = [learned.decide(RouteInput(text=text)) for text in texts]
        shares.append(sum(decision.tier != "tier1" for decision in decisions) / len(texts))
        lifted.append(sum("work goes to" in decision.reasons[1]["detail"] for decision in decisions
                          if decision.reasons[1]["rule"] == "premium_needed") / len(texts))
    assert shares == sorted(shares) and lifted == sorted(lifted), (shares, lifted)
    assert shares[-1] - shares[0] > 0.15 and lifted[-1] - lifted[0] > 0.5, (shares, lifted)


def test_premium_threshold_overrides_the_share():
    policy = load_policy()
    learned = LearnedRouter(with_router(policy, premium_share=0.2, premium_threshold=0.99), RulesRouter(policy))
    decision = learned.decide(RouteInput(text="Which planet in our solar system has the most moons, and why?"))
    assert decision.tier == "tier1" and "0.990 (premium_threshold)" in decision.reasons[1]["detail"]
    low = LearnedRouter(with_router(policy, premium_share=0.2, premium_threshold=0.0), RulesRouter(policy))
    assert low.decide(RouteInput(text="Which planet in our solar system has the most moons, and why?")).tier == "tier2"


def test_reason_trail_names_the_layer_the_probabilities_and_the_threshold():
    policy = load_policy()
    decision = LearnedRouter(policy, RulesRouter(policy)).decide(
        RouteInput(text="Classify this lead as B2B or B2C: Nordwind Logistik GmbH, 40 trucks"))
    assert (decision.task_type, decision.task_type_source, decision.decided_by, decision.tier) == (
        "classification", "learned", "learned", "tier1")
    rules = [reason["rule"] for reason in decision.reasons]
    assert rules == ["learned_task_type", "premium_needed", "learned_tier"]
    assert "classification p=0." in decision.reasons[0]["detail"]
    assert "premium_share 0.2" in decision.reasons[1]["detail"]


def test_hybrid_calls_the_llm_router_only_where_the_learned_router_is_unsure(client, auth, app, fake_anthropic):
    policy = load_policy()
    rules = RulesRouter(policy)
    learned = LearnedRouter(policy, rules)
    expected = {}
    for text in FREE_TEXTS:
        if rules_cannot_place(rules.decide(RouteInput(text=text)), policy) is None:
            expected[text] = "rules"
        else:
            expected[text] = "learned" if learned.is_sure(learned.score(text)) else "llm"
    assert set(expected.values()) == {"rules", "learned", "llm"}, "the set must exercise all three layers"
    for text in FREE_TEXTS:
        if expected[text] == "llm":
            router_says(fake_anthropic, "tier2", "copywriting", 0.9)
        body = route(client, auth, text=text, mode="hybrid")
        assert body["decided_by"] == expected[text], (text, body["reasons"])
    assert len(fake_anthropic.requests) == list(expected.values()).count("llm")


def test_free_text_goes_mostly_to_tier1_and_needs_no_model_call(client, auth, fake_anthropic):
    tiers = [route(client, auth, text=text)["tier"] for text in FREE_TEXTS]
    assert fake_anthropic.requests == []
    assert tiers.count("tier1") >= len(FREE_TEXTS) // 3, tiers


def test_a_policy_with_other_task_types_still_routes():
    policy = load_policy()
    other = policy.model_copy(update={"task_types": {
        "invoice_check": TaskType(tier="tier1", detect=KeywordSet(keywords=["check this invoice"])),
        "legal_memo": TaskType(tier="tier3", detect=KeywordSet(keywords=["legal memo"])),
    }})
    learned = LearnedRouter(other, RulesRouter(other))
    summary = learned.decide(RouteInput(text="Please summarize these meeting notes from the supplier call"))
    assert summary.task_type == "unknown" and summary.tier == other.rules.unknown_task_tier
    assert "not a task type of this policy, the rules decide" in summary.reasons[0]["detail"]
    memo = learned.decide(RouteInput(text="Write a legal memo on our supplier terms"))
    assert (memo.task_type, memo.task_type_source, memo.tier) == ("legal_memo", "rules", "tier3")
    assert "the learned model does not know" in memo.reasons[0]["detail"]
    # The model's guess (an open question) is no type of this policy: "could not tell", the safe middle.
    trivia = learned.decide(RouteInput(text="What is the capital of France?"))
    assert (trivia.task_type, trivia.tier) == ("unknown", other.rules.unknown_task_tier)
    given = learned.decide(RouteInput(text="Acme order 7, please check it", task_type="invoice_check"))
    assert (given.task_type, given.task_type_source, given.tier) == ("invoice_check", "given", "tier1")


def test_a_missing_weight_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightFileError, match=r"weights\.json\.gz is missing.*tiergate router train"):
        read_weights(tmp_path / "weights.json.gz")


@pytest.mark.parametrize("content, message", [
    (b"not gzip at all", "is corrupt"),
    (gzip.compress(b"{\"format\": 1, \"heads\""), "is corrupt"),
    (gzip.compress(b"{\"format\": 99}"), "not a Tiergate router weight file of format 1"),
    (gzip.compress(b"{\"format\": 1, \"heads\": {}}"), "incomplete or malformed"),
])
def test_a_corrupt_weight_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "weights.json.gz"
    path.write_bytes(content)
    with pytest.raises(WeightFileError, match=message) as raised:
        read_weights(path)
    assert str(path) in str(raised.value)


def test_the_shipped_weight_file_is_small():
    assert WEIGHTS_FILE.stat().st_size < 5_000_000


def test_calibrate_fits_the_threshold_to_the_operators_log(tmp_path):
    texts = [json.loads(line)["prompt"] for line in (DATA / "mt_bench.jsonl").read_text().splitlines()]
    log = tmp_path / "requests.jsonl"
    log.write_text("".join(json.dumps({"payload": {"text": text}}) + "\n" for text in texts))
    result = CliRunner().invoke(cli, ["router", "calibrate", str(log), "--share", "0.3"])
    assert result.exit_code == 0, result.output
    threshold = float(re.search(r"premium_threshold: ([0-9.]+)", result.output).group(1))
    model = shipped_model()
    share = sum(model.score(text)[1] >= threshold for text in texts) / len(texts)
    assert share == pytest.approx(0.3, abs=1 / len(texts) + 1e-9)
    # It says how far the shipped default was off on this traffic, from the same scores.
    shipped = sum(model.score(text)[1] >= model.premium_threshold(0.3) for text in texts) / len(texts)
    said = float(re.search(r"off by ([-+0-9.]+) points", result.output).group(1))
    assert said == pytest.approx(100 * (shipped - 0.3), abs=0.051)
