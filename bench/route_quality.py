"""Quality and cost of the learned router: the figures in bench/README.md.

    .venv/bin/python bench/route_quality.py [--decisions 100000] [--bootstrap 1000]

1. MT-Bench (RouteLLM's GPT-4-1106 vs Mixtral-8x7B judgements, their decontamination list; never used
   for training or thresholds): APGR, CPT(50%), CPT(80%) of the premium head, computed the way
   RouteLLM's ``evals/evaluate.py`` does (10 quantile thresholds, trapezoid area), with a bootstrap
   interval over questions, beside RouteLLM mf's published 0.802 / 13.4% / 31.3%.
2. Task type and tier accuracy: the held-out templates of the training split, two outside sets never
   trained on: tests/data/task_types_labelled.jsonl (SME requests written for the rules) and
   TruthfulQA's 817 questions (open questions, Apache-2.0); MBPP's evaluation tasks (code; other MBPP
   tasks are trained on); bench/data/user_oriented_labelled.jsonl (249 everyday instructions,
   self-instruct, Apache-2.0: trained on since issue 21's third round); rules mode beside, and how
   often the answer is "unknown". ``--outside FILE`` adds a labelled set kept outside the repository
   (``text``, ``task_type``; e.g. a databricks-dolly-15k sample, share-alike, so never committed or
   trained on), with figures per label.
3. The premium head on sources it was not fitted to (AUC with 95% bootstrap intervals, from training),
   and the premium_share knob: realised vs set share at 0.1/0.2/0.3/0.5 on mixed traffic the table was
   not fitted on, and on an outside mix (MT-Bench, everyday instructions, GSM8K, SME requests).
4. Sensitive content: recall and false alarms on tests/data/sensitive_messages.jsonl (the test file)
   and the older labelled sets.
5. In-process decision latency of the whole learned decision (p50/p99 over N decisions), the RSS its
   weights add, and the cost of one very long text.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench" / "data"
ROUTELLM_MF = {"APGR": 0.802, "CPT(50%)": 13.4, "CPT(80%)": 31.3}  # arXiv 2406.18665, MT-Bench, mf router
QUANTILES = 10  # RouteLLM's --num-results
SEED = 13


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- 1. MT-Bench -----------------------------------------------------------------------------------

def routed_points(scores: list[float], weak: list[float], strong: list[float]) -> list[tuple[float, float]]:
    """(strong-call share in %, mean score) at each quantile threshold, as RouteLLM's MTBench.evaluate."""
    ordered = sorted(scores)
    n = len(ordered)
    points = []
    for i in range(QUANTILES + 1):
        position = i * (n - 1) / QUANTILES  # pd.qcut's bin edges are linear-interpolated quantiles
        low = int(position)
        threshold = ordered[low] + (position - low) * (ordered[min(low + 1, n - 1)] - ordered[low])
        strong_calls = [score >= threshold if i != QUANTILES else score > threshold for score in scores]
        quality = sum(s if up else w for up, s, w in zip(strong_calls, strong, weak)) / n
        points.append((100 * sum(strong_calls) / n, quality))
    return sorted(points)


def trapezoid(points: list[tuple[float, float]]) -> float:
    return sum((x2 - x1) / 100 * (y1 + y2) / 2 for (x1, y1), (x2, y2) in zip(points, points[1:]))


def interp(value: float, xs: list[float], ys: list[float]) -> float:
    """np.interp: xs ascending; clamps outside the range."""
    if value <= xs[0]:
        return ys[0]
    for (x1, y1), (x2, y2) in zip(zip(xs, ys), list(zip(xs, ys))[1:]):
        if value <= x2:
            return y1 if x2 == x1 else y1 + (value - x1) / (x2 - x1) * (y2 - y1)
    return ys[-1]


def mt_bench_metrics(scores: list[float], weak: list[float], strong: list[float]) -> dict[str, float]:
    points = routed_points(scores, weak, strong)
    weak_mean, strong_mean = sum(weak) / len(weak), sum(strong) / len(strong)
    share = [x for x, _ in points]
    apgr_area = trapezoid(points)
    width = (share[-1] - share[0]) / 100
    apgr = (apgr_area - weak_mean * width) / ((strong_mean - weak_mean) * width)
    # evaluate.py interpolates the share over the quality axis in the points' share order.
    quality = [y for _, y in points]
    cpt = {f"CPT({int(p * 100)}%)": interp(weak_mean + p * (strong_mean - weak_mean), quality, share)
           for p in (0.5, 0.8)}
    return {"APGR": apgr, **cpt}


def mt_bench(bootstrap: int) -> None:
    from app.routing.learned import shipped_model

    rows = jsonl(DATA / "mt_bench.jsonl")
    model = shipped_model()
    scores = [model.score(row["prompt"])[1] for row in rows]
    weak = [sum(row["weak_scores"]) / len(row["weak_scores"]) for row in rows]
    strong = [sum(row["strong_scores"]) / len(row["strong_scores"]) for row in rows]
    point = mt_bench_metrics(scores, weak, strong)
    rng = random.Random(SEED)
    samples: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(bootstrap):
        picks = [rng.randrange(len(rows)) for _ in rows]
        if len({strong[i] - weak[i] for i in picks}) < 2 or sum(strong[i] for i in picks) <= sum(weak[i] for i in picks):
            continue  # a resample where the strong model is not better has no PGR
        metrics = mt_bench_metrics([scores[i] for i in picks], [weak[i] for i in picks], [strong[i] for i in picks])
        for name, value in metrics.items():
            samples[name].append(value)
    random_apgr = []
    for _ in range(bootstrap):
        random_apgr.append(mt_bench_metrics([rng.random() for _ in rows], weak, strong)["APGR"])
    print(f"MT-Bench, {len(rows)} questions after decontamination; mean judge score weak (Mixtral) "
          f"{sum(weak) / len(weak):.3f}, strong (GPT-4) {sum(strong) / len(strong):.3f}")
    print(f"  {'metric':<10} {'premium head':>13} {'95% bootstrap':>18}   RouteLLM mf")
    for name, value in point.items():
        ordered = sorted(samples[name])
        low, high = ordered[int(0.025 * len(ordered))], ordered[int(0.975 * len(ordered)) - 1]
        unit = "%" if name.startswith("CPT") else ""
        fmt = (lambda v: f"{v:.1f}%") if unit else (lambda v: f"{v:.3f}")
        print(f"  {name:<10} {fmt(value):>13} {('[' + fmt(low) + ', ' + fmt(high) + ']'):>18}   {fmt(ROUTELLM_MF[name])}")
    print(f"  random router APGR: mean {statistics.mean(random_apgr):.3f} over {bootstrap} draws")


# -- 2-4. accuracy, share, risk --------------------------------------------------------------------

def wilson(right: int, n: int) -> str:
    """95% Wilson score interval of a proportion, as text."""
    z = 1.96
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return f"[{centre - half:.3f}, {centre + half:.3f}]"


def outside_accuracy(path: Path) -> None:
    """Task type and tier on a labelled file kept outside the repository (e.g. a Dolly sample), per label."""
    from collections import Counter, defaultdict

    from app.policy import load_policy
    from app.routing import RouteInput, RulesRouter
    from app.routing.learned import LearnedRouter

    policy = load_policy()
    rules = RulesRouter(policy)
    learned = LearnedRouter(policy, rules)
    rows = jsonl(path)
    print(f"\nOutside file {path} (n={len(rows)})")
    for mode, router in (("learned", learned), ("rules", rules)):
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        called: dict[str, Counter] = defaultdict(Counter)
        per_category: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        called_category: dict[str, Counter] = defaultdict(Counter)
        for row in rows:
            decision = router.decide(RouteInput(text=row["text"]))
            truth = rules.decide(RouteInput(text=row["text"], task_type=row["task_type"]))
            cell = per[row["task_type"]]
            cell[0] += 1
            cell[1] += decision.task_type == row["task_type"]
            cell[2] += decision.tier == truth.tier
            called[row["task_type"]][decision.task_type] += 1
            if "category" in row:
                group = per_category[row["category"]]
                group[0] += 1
                group[1] += decision.task_type == row["task_type"]
                group[2] += decision.tier == truth.tier
                called_category[row["category"]][decision.task_type] += 1
        n = len(rows)
        right_type = sum(cell[1] for cell in per.values())
        right_tier = sum(cell[2] for cell in per.values())
        unknown = sum(c["unknown"] for c in called.values())
        print(f"  {mode:<8} task type {right_type / n:.3f} {wilson(right_type, n)}  tier {right_tier / n:.3f} "
              f"{wilson(right_tier, n)}  unknown {unknown / n:.3f}")
        for label, (count, typed, tiered) in sorted(per.items()):
            top = ", ".join(f"{name} {k}" for name, k in called[label].most_common(3))
            print(f"    {label:<14} n={count:<4} type {typed / count:.2f}  tier {tiered / count:.2f}   called: {top}")
        if mode == "learned" and any("category" in row for row in rows):
            print("    per source category (the file's own labels):")
            for category, (count, typed, tiered) in sorted(per_category.items()):
                top = ", ".join(f"{name} {k}" for name, k in called_category[category].most_common(2))
                print(f"      {category:<28} n={count:<3} type {typed / count:.2f}  tier {tiered / count:.2f}   called: {top}")


def accuracy() -> None:
    from app.policy import load_policy
    from app.routing import RouteInput, RulesRouter
    from app.routing.learned import LearnedRouter
    from training.train_router import general_requests, load_pairs, split_data

    policy = load_policy()
    rules = RulesRouter(policy)
    learned = LearnedRouter(policy, rules)
    *_, task_test = split_data(load_pairs())
    held_out = [{"text": text, "task_type": label} for text, label in task_test if label != "unknown"]
    outside = jsonl(ROOT / "tests" / "data" / "task_types_labelled.jsonl")
    everyday = jsonl(DATA / "user_oriented_labelled.jsonl")
    print("\nTask type and tier (tier: the decision vs the tier the table and safety rules give the true type)")
    for name, rows in (("held-out templates", held_out),
                       ("trained on since round 3: everyday instructions (self-instruct user-oriented)", everyday),
                       ("outside: SME set tests/data/task_types_labelled.jsonl", outside),
                       ("outside: open questions (TruthfulQA, never trained on)", general_requests("outside")),
                       ("held-out: MBPP evaluation tasks (code; MBPP trained on)", general_requests("held_out"))):
        for mode, router in (("learned", learned), ("rules", rules)):
            right_type = right_tier = unknown = 0
            for row in rows:
                decision = router.decide(RouteInput(text=row["text"]))
                truth = rules.decide(RouteInput(text=row["text"], task_type=row["task_type"]))
                right_type += decision.task_type == row["task_type"]
                right_tier += decision.tier == truth.tier
                unknown += decision.task_type == "unknown"
            print(f"  {name:<62} {mode:<8} task type {right_type / len(rows):.3f}  tier {right_tier / len(rows):.3f}"
                  f"  unknown {unknown / len(rows):.3f}  (n={len(rows)})")


def premium_transfer() -> None:
    from app.routing.learned import shipped_model

    trained = shipped_model().trained
    print("\nPremium head on whole sources held out (ROC AUC for 'the weak model answers wrong', 95% bootstrap)")
    for row in trained.get("premium_transfer", []):
        kind = "same source, held-out prompts" if row["train"] == row["test"] else "OTHER source"
        print(f"  fitted on {row['train']:<6} ranked on {row['test']:<6} ({kind:<29}) AUC {row['auc']:.3f} "
              f"[{row['low']:.3f}, {row['high']:.3f}]  n={row['n']}")


def share_calibration(extra: list[Path] = ()) -> None:
    from app.policy import load_policy
    from app.routing import RouteInput, RulesRouter
    from app.routing.learned import LearnedRouter, shipped_model

    model = shipped_model()
    print("\nThe premium_share knob: share of requests the premium signal sends up, set vs realised")
    print("  mixed traffic the table was not fitted on (other half of six equal sources; from training):")
    for share, figures in model.trained.get("premium_share_realised", {}).items():
        listed = ", ".join(f"{name} {value:.3f}" for name, value in figures.items())
        print(f"    set {float(share):.1f}: {listed}")
    from training.train_router import general_requests

    # Kinds of requests the calibration table never saw (the self-instruct sets are in it now), plus any
    # labelled file kept outside the repository (--outside).
    outside = {
        "MT-Bench": [row["prompt"] for row in jsonl(DATA / "mt_bench.jsonl")],
        "GSM8K $ problems": [row["text"] for row in jsonl(DATA / "gsm8k_money_problems.jsonl")],
        "SME requests": [row["text"] for row in jsonl(ROOT / "tests" / "data" / "task_types_labelled.jsonl")],
        "TruthfulQA questions": [row["text"] for row in general_requests("outside")],
        **{path.stem: [row["text"] for row in jsonl(path)] for path in extra},
    }
    size = min(len(texts) for texts in outside.values())
    rng = random.Random(SEED)
    mix = {name: rng.sample(texts, size) for name, texts in outside.items()}
    scores = {name: [model.score(text)[1] for text in texts] for name, texts in mix.items()}
    pooled = [score for values in scores.values() for score in values]
    policy = load_policy()
    rules = RulesRouter(policy)
    print(f"  outside mix, {size} requests from each of {', '.join(mix)} (never fitted on):")
    for share in (0.1, 0.2, 0.3, 0.5):
        threshold = model.premium_threshold(share)
        per = ", ".join(f"{name} {sum(s >= threshold for s in values) / len(values):.3f}" for name, values in scores.items())
        learned = LearnedRouter(policy.model_copy(update={"router": policy.router.model_copy(
            update={"premium_share": share})}), rules)
        texts = [text for values in mix.values() for text in values]
        up = sum(learned.decide(RouteInput(text=text)).tier != policy.tier_order[0] for text in texts) / len(texts)
        print(f"    set {share:.1f}: realised {sum(s >= threshold for s in pooled) / len(pooled):.3f} "
              f"({per}); tier2+ incl. the task-type table {up:.3f}")


def premium_share() -> None:
    from app.policy import load_policy
    from app.routing import RouteInput, RulesRouter
    from app.routing.learned import LearnedRouter

    policy = load_policy()
    rules = RulesRouter(policy)
    learned = LearnedRouter(policy, rules)
    sets = {
        "MT-Bench first turns": [row["prompt"] for row in jsonl(DATA / "mt_bench.jsonl")],
        "GSM8K word problems with $": [row["text"] for row in jsonl(DATA / "gsm8k_money_problems.jsonl")],
        "outside SME set": [row["text"] for row in jsonl(ROOT / "tests" / "data" / "task_types_labelled.jsonl")],
    }
    print(f"\nShare of free text (no task_type) on tier2+ at premium_share {policy.router.premium_share:g} "
          f"(threshold {learned.premium_threshold:.3f})")
    for name, texts in sets.items():
        shares = []
        for router in (learned, rules):
            decisions = [router.decide(RouteInput(text=text)) for text in texts]
            shares.append(sum(d.tier != policy.tier_order[0] for d in decisions) / len(texts))
            if router is learned:
                review = sum(d.needs_review for d in decisions) / len(texts)
        print(f"  {name:<30} learned {shares[0]:.1%}  (rules mode {shares[1]:.1%}); to review {review:.1%}  (n={len(texts)})")


def risk() -> None:
    from app.policy import load_policy
    from app.routing import RulesRouter

    router = RulesRouter(load_policy())
    print("\nRisk detection (money, legal, medical, security)")
    sets = (("TEST FILE tests/data/sensitive_messages.jsonl (334, EN+DE)", jsonl(ROOT / "tests" / "data" / "sensitive_messages.jsonl")),
            ("dev set tests/data/risk_labelled.jsonl (lists written against it)", jsonl(ROOT / "tests" / "data" / "risk_labelled.jsonl")),
            ("held-out set bench/data/risk_holdout.jsonl", jsonl(DATA / "risk_holdout.jsonl")),
            ("GSM8K word problems with $ (all benign)",
             [{"text": row["text"], "sensitive": None} for row in jsonl(DATA / "gsm8k_money_problems.jsonl")]))
    for name, rows in sets:
        benign = [row for row in rows if row["sensitive"] is None]
        sensitive = [row for row in rows if row["sensitive"]]
        false_alarms = sum(bool(router.sensitive_categories(row["text"])) for row in benign)
        caught = sum(bool(router.sensitive_categories(row["text"])) for row in sensitive)
        wrong_category = sum(bool(router.sensitive_categories(row["text"]))
                             and row["sensitive"] not in router.sensitive_categories(row["text"]) for row in sensitive)
        line = f"  {name:<68} false alarms {false_alarms}/{len(benign)} ({false_alarms / len(benign):.1%})"
        if sensitive:
            line += (f"  recall {caught}/{len(sensitive)} ({caught / len(sensitive):.1%}; "
                     f"{wrong_category} caught under another category)")
        print(line)


# -- 5. latency ------------------------------------------------------------------------------------

def latency(decisions: int) -> None:
    import psutil

    from app.policy import load_policy
    from app.routing import RouteInput, RulesRouter
    from app.routing.learned import LearnedRouter, shipped_model
    from app.routing.learned.features import clear_caches

    policy = load_policy()
    rules = RulesRouter(policy)
    process = psutil.Process()
    before = process.memory_info().rss
    # The process's one model, as in the server: the rules' sensitive-content check reads it too.
    model = shipped_model()
    added = process.memory_info().rss - before
    learned = LearnedRouter(policy, rules, model)
    texts = [row["prompt"] for row in jsonl(DATA / "mt_bench.jsonl")]
    texts += [row["text"] for row in jsonl(ROOT / "tests" / "data" / "task_types_labelled.jsonl")]
    inputs = [RouteInput(text=text, input_tokens=len(text) // 4) for text in texts]
    rng = random.Random(SEED)
    timings, cpu, model_only = [], [], []
    for _ in range(decisions):
        request = inputs[rng.randrange(len(inputs))]
        started, started_cpu = time.perf_counter(), time.thread_time()
        learned.decide(request)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        timings.append((time.perf_counter() - started) * 1000)
        clear_caches()  # the decision cached the text's features: time the heads from scratch
        started_cpu = time.thread_time()
        model.score(request.text)
        model.sensitive_score(request.text)
        model_only.append((time.thread_time() - started_cpu) * 1000)
    timings.sort()
    cpu.sort()
    model_only.sort()
    p99 = int(len(timings) * 0.99)
    # Wall time includes waiting for a core on a busy machine; thread CPU time is what the decision costs.
    print(f"\nLearned-layer decision in process, {decisions:,} decisions over {len(texts)} texts "
          f"(up to {max(map(len, texts)):,} chars): wall p50 {timings[len(timings) // 2]:.3f} ms, "
          f"p99 {timings[p99]:.3f} ms; CPU p50 {cpu[len(cpu) // 2]:.3f} ms, p99 {cpu[p99]:.3f} ms; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; RSS added by the weights {added / 1e6:.1f} MB")
    print(f"  of which the model (task type, premium and sensitive-content heads): CPU p50 {model_only[len(model_only) // 2]:.3f} ms, p99 {model_only[p99]:.3f} ms;"
          " the rest is the rules' safety checks (policy lists and\n  sensitive lexicons over the first 6,000 chars; the policy's lists read the whole text) as in rules mode")
    long_text = "Please summarise this supplier thread: " + "we discussed prices and delivery dates. " * 2_000
    whole = best_of(lambda: learned.decide(RouteInput(text=long_text, input_tokens=len(long_text) // 4)))
    scoring = best_of(lambda: model.score(long_text))
    print(f"  an {len(long_text) // 1000} KB text: model {scoring:.3f} ms (reads the first "
          f"{learned_chars()} chars); whole decision {whole:.2f} ms (the safety rules read all of it, as in rules mode)")


def best_of(call, repeats: int = 50) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def learned_chars() -> str:
    from app.routing.learned.features import MAX_CHARS

    return f"{MAX_CHARS:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--bootstrap", type=int, default=1_000)
    parser.add_argument("--outside", type=Path, action="append", default=[],
                        help="a labelled JSONL kept outside the repository (text, task_type): accuracy per label")
    parser.add_argument("--only", choices=["latency", "accuracy", "share", "risk", "outside"],
                        help="run one part only")
    args = parser.parse_args()
    if args.only == "outside":
        for path in args.outside:
            outside_accuracy(path)
        return
    if args.only == "latency":
        return latency(args.decisions)
    if args.only == "accuracy":
        return accuracy()
    if args.only == "share":
        return share_calibration(args.outside)
    if args.only == "risk":
        return risk()
    latency(args.decisions)  # first: the RSS the weights add is measured before anything else loads them
    mt_bench(args.bootstrap)
    accuracy()
    premium_transfer()
    share_calibration(args.outside)
    premium_share()
    risk()
    for path in args.outside:
        outside_accuracy(path)


if __name__ == "__main__":
    main()
