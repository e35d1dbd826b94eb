"""The fake model's default answers to Tiergate's recipe prompts, deterministic and deliberately dumb.

It recognises the task from the system prompt (the task type's prompt in ``app/policy/default.yaml``)
and answers in the shape the gates expect, so an end-to-end run from n8n, Make or Zapier passes its
gates without scripting anything:

* self-check prompts (they ask for ``"pass"``)      -> ``{"pass": true, "reason": ...}``
* router prompts (``tier`` / ``task_type`` / ``confidence``) -> a router verdict
* classification (``classif``/``label``)  -> ``{"label", "confidence", "reason"}``; the label is the first
  allowed label (from an ``Allowed labels: a, b`` line) mentioned in the input, else the first label;
  a JSON list of items gets one result per item
* CRM cleanup (``CRM``)                   -> a record with company, names, email, phone, country
* customer reply (``customer`` + ``reply``) -> a short polite reply draft
* extraction (``extract``)                -> ``{"email", "phone"}`` found in the input
* anything else                           -> ``Fake answer: <start of the input>``
"""
from __future__ import annotations

import json
import re
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"\+?\d[\d ()./-]{6,}\d")
LABELS_LINE = re.compile(r"\b(?:allowed\s+)?labels?\s*:\s*([^\n]+)", re.IGNORECASE)
COMPANY_SUFFIXES = {"gmbh": "GmbH", "inc": "Inc", "ltd": "Ltd", "llc": "LLC", "corp": "Corp", "ag": "AG",
                    "sa": "SA", "bv": "BV", "co": "Co", "plc": "PLC", "kk": "KK"}
COUNTRIES = {"germany": "DE", "deutschland": "DE", "france": "FR", "united states": "US", "usa": "US",
             "united kingdom": "GB", "uk": "GB", "taiwan": "TW", "japan": "JP", "spain": "ES", "italy": "IT",
             "netherlands": "NL", "austria": "AT", "switzerland": "CH"}


def approx_tokens(text: str) -> int:
    """About four characters per token; at least one for non-empty text."""
    return (len(text) + 3) // 4


def flatten_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    return ""


def sme_responder(body: dict[str, Any]) -> str:
    """Answer one Messages API request body."""
    system = body.get("system") or ""
    system_text = system if isinstance(system, str) else "\n".join(b.get("text", "") for b in system)
    lowered = system_text.lower()
    user = "\n".join(flatten_text(m.get("content")) for m in body.get("messages", []) if m.get("role") == "user")
    if '"pass"' in system_text:
        return json.dumps({"pass": True, "reason": "fake reviewer: the answer follows the instructions"})
    if '"task_type"' in system_text and '"tier"' in system_text and '"confidence"' in system_text:
        return json.dumps({"tier": "tier2", "task_type": "summary", "reason": "fake router", "confidence": 0.8})
    if "classif" in lowered or "label" in lowered:
        return classify(user, _labels(system_text + "\n" + user))
    if "crm" in lowered:
        return json.dumps(crm_record(user))
    if "customer" in lowered and "reply" in lowered:
        return support_reply(user)
    if "extract" in lowered:
        return json.dumps({"email": _first(EMAIL, user), "phone": _first(PHONE, user)})
    return "Fake answer: " + user.strip()[:200]


def _labels(text: str) -> list[str]:
    match = LABELS_LINE.search(text)
    if not match:
        return ["unknown"]
    raw = match.group(1).strip()
    try:
        parsed = json.loads(raw)
        return [item["name"] if isinstance(item, dict) else str(item) for item in parsed]
    except (ValueError, TypeError, KeyError):
        return [part.strip().strip("\"'") for part in raw.split(",") if part.strip()]


def _pick(text: str, labels: list[str]) -> dict[str, Any]:
    lowered = text.lower()
    for label in labels:
        if re.search(rf"\b{re.escape(label.lower())}\b", lowered):
            return {"label": label, "confidence": 0.92, "reason": f"the input mentions {label}"}
    return {"label": labels[0], "confidence": 0.6, "reason": "no label mentioned; first allowed label"}


def classify(user: str, labels: list[str]) -> str:
    try:
        items = json.loads(user)
    except ValueError:
        items = None
    if isinstance(items, list):
        results = []
        for index, item in enumerate(items):
            text = item if isinstance(item, str) else json.dumps(item)
            item_id = item.get("id", index) if isinstance(item, dict) else index
            results.append({"id": item_id, **_pick(text, labels)})
        return json.dumps(results)
    return json.dumps(_pick(user, labels))


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(0) if match else None


def crm_record(user: str) -> dict[str, Any]:
    parts = [part.strip() for part in re.split(r"[,;\n]", user) if part.strip()]
    email = _first(EMAIL, user)
    phone = _first(PHONE, user)
    company = first = last = country = None
    for part in parts:
        lowered = part.lower().rstrip(".")
        words = lowered.replace(".", " ").split()
        if country is None and lowered in COUNTRIES:
            country = COUNTRIES[lowered]
        elif company is None and words and words[-1] in COMPANY_SUFFIXES:
            company = " ".join([w.capitalize() for w in words[:-1]] + [COMPANY_SUFFIXES[words[-1]]])
        elif first is None and "@" not in part and not PHONE.search(part) and 1 < len(words) <= 3:
            first, last = words[0].capitalize(), " ".join(w.capitalize() for w in words[1:])
    if phone:
        phone = "+" + re.sub(r"\D", "", phone)
    return {"company": company, "first_name": first, "last_name": last, "email": email,
            "email_valid": bool(email), "phone": phone, "country": country}


def support_reply(user: str) -> str:
    first_sentence = re.split(r"(?<=[.!?])\s", user.strip(), maxsplit=1)[0][:160]
    return (f"Hello,\n\nthank you for your message (\"{first_sentence}\"). We are looking into it and will "
            "get back to you with the details shortly.\n\nBest regards,\nThe support team")
