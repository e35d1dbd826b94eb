"""Policy versions: a sampling recommendation applied in one step, rolled back in one step.

Each version stores the whole policy document with who, when and why. The newest active version
overrides the policy file; a rollback retires it (noting who, when and why on it), so the version before
it, or the file, applies again. Every process re-checks the version in force every few seconds.
"""
from __future__ import annotations

import logging
import time

import yaml
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidField
from app.policy import Policy, default_policy_text, load_policy, parse_policy
from app.routing.state import install_policy
from app.sampling.audit import ADJUST, CLASS_TASK_TYPES, MOVE_UP, RECOMMENDATION_TEXT, class_rates
from app.store import PolicyVersion, Review, utcnow

log = logging.getLogger(__name__)

MAX_PROMPT_EXAMPLES = 3
MAX_EXAMPLE_CHARS = 600
POLICY_SYNC_SECONDS = 5.0


def active_version(session: Session) -> PolicyVersion | None:
    """The version in force: the newest active one (None: the policy file is in force)."""
    return session.scalar(select(PolicyVersion).where(PolicyVersion.active.is_(True))
                          .order_by(PolicyVersion.id.desc()).limit(1))


def list_versions(session: Session, limit: int = 50) -> list[PolicyVersion]:
    return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.id.desc()).limit(limit)))


def file_policy_text(app: Flask) -> str:
    path = app.config["TIERGATE"].policy_path
    return path.read_text(encoding="utf-8") if path else default_policy_text()


def policy_text_in_force(session: Session, app: Flask) -> str:
    version = active_version(session)
    return version.content if version else file_policy_text(app)


def _changed_policy(text: str, recommendation: str, audit_class: str, corrections: list[Review]) -> tuple[str, str]:
    """The policy document with the recommendation applied, and a sentence saying what changed."""
    document = yaml.safe_load(text)
    policy = parse_policy(text)
    task_types = [name for name in CLASS_TASK_TYPES.get(audit_class, (audit_class,)) if name in policy.task_types]
    if not task_types:
        raise InvalidField(f"the policy has no task type of class {audit_class}", "class")
    changes = []
    for name in task_types:
        spec = document["task_types"][name]
        if recommendation == MOVE_UP:
            upper = policy.next_tier(policy.task_types[name].tier)
            if upper is None:
                raise Conflict(f"{name} is already on the top tier {policy.task_types[name].tier}", "class")
            changes.append(f"{name} {spec['tier']} -> {upper}")
            spec["tier"] = upper
        else:
            examples = _prompt_examples(corrections)
            if not examples:
                raise Conflict(f"no corrected answers of class {audit_class} to add as examples; edit the prompt of "
                               f"{', '.join(task_types)} by hand", "class")
            spec["prompt"] = (spec.get("prompt") or "").rstrip() + "\n\n" + examples + "\n"
            changes.append(f"{name} prompt + {min(len(corrections), MAX_PROMPT_EXAMPLES)} corrected example(s)")
    new_text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    parse_policy(new_text, source="<new policy version>")  # never store a version that would not load
    return new_text, "; ".join(changes)


def _prompt_examples(corrections: list[Review]) -> str:
    shown = [review for review in corrections if review.final_text][:MAX_PROMPT_EXAMPLES]
    if not shown:
        return ""
    lines = ["Examples of past mistakes and their corrected answers (from the quality audit):"]
    for review in shown:
        lines.append(f"Input: {(review.input_text or '')[:MAX_EXAMPLE_CHARS]}\n"
                     f"Wrong answer: {(review.draft or '')[:MAX_EXAMPLE_CHARS]}\n"
                     f"Correct answer: {review.final_text[:MAX_EXAMPLE_CHARS]}")
    return "\n\n".join(lines)


def apply_recommendation(session: Session, app: Flask, month: str, audit_class: str, author: str) -> PolicyVersion:
    """Apply the class's current recommendation as a new policy version and put it in force."""
    rate = next((r for r in class_rates(session, month) if r.audit_class == audit_class), None)
    if rate is None:
        raise InvalidField(f"unknown audit class {audit_class}", "class")
    if rate.recommendation not in (MOVE_UP, ADJUST):
        raise Conflict(f"nothing to apply for {audit_class} in {month}: {RECOMMENDATION_TEXT[rate.recommendation]}",
                       "class")
    corrections = list(session.scalars(select(Review).where(Review.kind == "audit", Review.audit_month == month,
                                                            Review.audit_class == audit_class,
                                                            Review.audit_correct.is_(False))
                                       .order_by(Review.decided_at)))
    text, change = _changed_policy(policy_text_in_force(session, app), rate.recommendation, audit_class, corrections)
    reason = (f"{month} audit: {audit_class} wrong {rate.wrong}/{rate.marked} ({rate.rate_pct}%) -> "
              f"{RECOMMENDATION_TEXT[rate.recommendation]}: {change}")
    return _store_version(session, app, text, author, reason)


def rollback(session: Session, app: Flask, author: str, why: str = "") -> PolicyVersion | None:
    """Retire the version in force, noting who, when and why; the one before it (or the file) applies again.

    Returns the version now in force, None for the policy file. Rolling back again walks further back.
    """
    current = active_version(session)
    if current is None:
        raise Conflict("no applied policy version to roll back; the policy file is in force", "version")
    current.active = False
    current.reason = (f"{current.reason}\n[rolled back by {author} at {utcnow():%Y-%m-%d %H:%M} UTC"
                      + (f": {why}]" if why else "]"))
    session.flush()
    previous = active_version(session)
    policy = (parse_policy(previous.content, source=f"<policy version {previous.id}>") if previous
              else load_policy(app.config["TIERGATE"].policy_path))
    session.commit()
    _install(app, policy, previous.id if previous else None)
    log.info("policy version %s rolled back by %s; in force: %s", current.id, author,
             f"version {previous.id}" if previous else "the policy file")
    return previous


def _store_version(session: Session, app: Flask, content: str, author: str, reason: str) -> PolicyVersion:
    policy = parse_policy(content, source="<new policy version>")
    version = PolicyVersion(author=author, reason=reason, content=content, active=True)
    session.add(version)
    session.commit()
    _install(app, policy, version.id)
    log.info("policy version %s in force (%s): %s", version.id, author, reason)
    return version


# -- keeping every process on the version in force -----------------------------------------------

def _install(app: Flask, policy: Policy, version_id: int | None) -> None:
    install_policy(app, policy)
    app.extensions["policy_version"] = version_id


def sync_policy(app: Flask) -> None:
    """Put the newest active stored version in force if it is not already (the file when there is none)."""
    with app.extensions["store"].session() as session:
        version = active_version(session)
        version_id = version.id if version else None
        if version_id == app.extensions.get("policy_version", None):
            return
        policy = parse_policy(version.content, source=f"<policy version {version.id}>") if version else None
    if policy is None:
        policy = load_policy(app.config["TIERGATE"].policy_path)
    _install(app, policy, version_id)
    log.info("policy in force: %s", f"version {version_id}" if version_id else "the policy file")


def init_app(app: Flask) -> None:
    """Load the stored policy version at start and re-check it every few seconds per process."""
    app.extensions["policy_version"] = None
    sync_policy(app)
    checked = {"at": time.monotonic()}

    @app.before_request
    def _sync_policy():
        if time.monotonic() - checked["at"] >= POLICY_SYNC_SECONDS:
            checked["at"] = time.monotonic()
            try:
                sync_policy(app)
            except SQLAlchemyError as exc:
                # The database is down: keep routing on the policy in force; /readyz reports the outage.
                log.warning("could not check the policy version in force: %s", type(exc).__name__)
