"""Telling people a draft waits for review: the ``review.created`` event and the notification channels.

A channel is an incoming-webhook URL (Slack, Teams, an n8n Webhook node, anything that takes a JSON
POST) and/or e-mail addresses, for every task type or a chosen few, sent at once or as a digest every
N minutes. Channels come from the environment (one channel: ``TIERGATE_NOTIFY_WEBHOOK_URL``,
``TIERGATE_NOTIFY_EMAIL``, ``TIERGATE_NOTIFY_TASK_TYPES``, ``TIERGATE_NOTIFY_DIGEST_MINUTES``) and from
an optional YAML file (``TIERGATE_NOTIFY_FILE``: a list of channels, e.g. one per team and task type).

Every message goes through the callback outbox (``app.execution.outbox``), signed like ``job.finished`` and
``review.decided``, retried with backoff, and listed on the admin page when it fails for good.
Messages are written in the same transaction as the review item (a SQLAlchemy ``before_flush`` hook
on the store's sessions, so every path that holds a draft announces it), so an item is never
announced without existing, nor stored without being announced. E-mail rides the same outbox as a
``mailto:`` delivery, sent over SMTP (``TIERGATE_SMTP_*``).

The body carries ``text``, a human sentence Slack and Teams show as the message, next to the
structured fields (``review_id``, ``review_url``, ``task_type``, ``reasons``, ``customer``, ...) an
n8n workflow reads. It never goes to the request's own ``callback_url``: that is the workflow's
resume URL, which must fire only on the decision.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

import yaml
from sqlalchemy import event, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.errors import ConfigError
from app.execution import sweeper
from app.execution.mail import MAILTO, is_mail, recipients_of, send_mail, split_addresses  # noqa: F401
from app.notify.summary import summarize
from app.store import Delivery, Review, utcnow
from app.store.models import new_id

log = logging.getLogger(__name__)

CREATED_EVENT = "review.created"
DIGEST_EVENT = "review.digest"
DIGEST_LIST_LIMIT = 50  # items listed in one message (a long classified list); the count covers all
CHANNEL_FIELDS = {"name", "webhook_url", "email", "task_types", "digest_minutes"}


@dataclass(frozen=True)
class Channel:
    """Where and how to tell people: targets (a webhook URL, ``mailto:`` addresses), which task types, when."""

    name: str
    targets: tuple[str, ...]
    task_types: frozenset[str] | None = None  # None: every task type
    digest_minutes: int = 0  # 0: a message per new item (per transaction); N: one digest every N minutes

    def wants(self, task_type: str) -> bool:
        return self.task_types is None or task_type in self.task_types


def _channel(name: str, webhook_url: Any, email: Any, task_types: Any, digest_minutes: Any, where: str,
             from_environment: bool = False) -> Channel:
    def named(field_name: str) -> str:  # the variable's name for the environment, the field's for the file
        return f"{where}{field_name.upper() if from_environment else field_name}"

    targets = []
    if webhook_url:
        parts = urlsplit(str(webhook_url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{named('webhook_url')}: must be an absolute http(s) URL (got {webhook_url!r})")
        targets.append(str(webhook_url))
    addresses = split_addresses(email)
    for address in addresses:
        if "@" not in address or any(char in address for char in " ,;<>"):
            raise ConfigError(f"{named('email')}: {address!r} is not an e-mail address")
    if addresses:
        targets.append(MAILTO + ",".join(addresses))
    if not targets:
        raise ConfigError(f"{named('webhook_url')} or {named('email')}: give one (or both)")
    try:
        minutes = int(digest_minutes or 0)
    except (TypeError, ValueError):
        raise ConfigError(f"{named('digest_minutes')}: a whole number of minutes, 0 for at once "
                          f"(got {digest_minutes!r})") from None
    if minutes < 0:
        raise ConfigError(f"{named('digest_minutes')}: 0 or more (got {minutes})")
    types = split_addresses(task_types)
    return Channel(name, tuple(targets), frozenset(types) if types else None, minutes)


def channels(settings) -> list[Channel]:
    """The configured channels; ConfigError naming the variable or the file's entry when one is wrong."""
    found = []
    if settings.notify_webhook_url or settings.notify_email:
        found.append(_channel("environment", settings.notify_webhook_url, settings.notify_email,
                              settings.notify_task_types, settings.notify_digest_minutes, "TIERGATE_NOTIFY_",
                              from_environment=True))
    path: Path | None = settings.notify_file
    if path is not None:
        try:
            entries = yaml.safe_load(Path(path).read_text()) or []
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"TIERGATE_NOTIFY_FILE: cannot read {path}: {exc}") from None
        if isinstance(entries, dict):
            entries = entries.get("channels") or []
        if not isinstance(entries, list):
            raise ConfigError(f"TIERGATE_NOTIFY_FILE: {path} must hold a list of channels")
        for index, entry in enumerate(entries):
            where = f"{path}: channel {index + 1}: "
            if not isinstance(entry, dict):
                raise ConfigError(f"{where}must be a mapping (name, webhook_url, email, task_types, digest_minutes)")
            unknown = set(entry) - CHANNEL_FIELDS
            if unknown:
                raise ConfigError(f"{where}unknown field(s) {', '.join(sorted(unknown))}; "
                                  f"known: {', '.join(sorted(CHANNEL_FIELDS))}")
            found.append(_channel(str(entry.get("name") or f"channel {index + 1}"), entry.get("webhook_url"),
                                  entry.get("email"), entry.get("task_types"), entry.get("digest_minutes"), where))
    return found


# -- what is said ---------------------------------------------------------------------------------

def _review_url(settings, review_id: str) -> str:
    return f"{(settings.public_url or '').rstrip('/')}/review/{review_id}"


def item_of(review: Review, settings) -> dict[str, Any]:
    """One waiting item as notifications describe it (never the callback URL, never the whole draft)."""
    summary = summarize(review)
    return {"review_id": review.id, "review_url": _review_url(settings, review.id), "task_type": review.task_type,
            "tier": review.tier, "request_id": review.request_id,
            "reasons": [reason.get("rule") if isinstance(reason, dict) else str(reason) for reason in review.reasons or []],
            **summary.to_dict(), "summary": summary.one_line(), "metadata": review.request_metadata or {}}


def created_payload(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``review.created`` body: one item's fields at the top (the usual case), all of them in ``reviews``."""
    first = items[0]
    if len(items) == 1:
        text = f"Draft waiting for review ({first['task_type']}): {first['summary']} {first['review_url']}"
    else:
        text = (f"{len(items)} drafts waiting for review ({', '.join(sorted({i['task_type'] for i in items}))}), "
                f"first: {first['summary']} {first['review_url']}")
    return {"event": CREATED_EVENT, **first, "count": len(items), "reviews": items[:DIGEST_LIST_LIMIT], "text": text}


def digest_payload(items: list[dict[str, Any]], total: int, since: datetime, until: datetime) -> dict[str, Any]:
    lines = [f"• {item['summary']} ({item['task_type']}) {item['review_url']}" for item in items]
    more = f"\n… and {total - len(items)} more" if total > len(items) else ""
    text = f"{total} draft{'s' if total != 1 else ''} waiting for review:\n" + "\n".join(lines) + more
    return {"event": DIGEST_EVENT, "count": total, "since": since.isoformat(), "until": until.isoformat(),
            "reviews": items, "text": text}


# -- announcing -----------------------------------------------------------------------------------

def watch(store, settings) -> list[Channel]:
    """Announce every new draft review written through ``store``'s sessions to the immediate channels."""
    configured = channels(settings)  # a bad setting stops the start, not the first review
    immediate = [channel for channel in configured if channel.digest_minutes == 0]
    if not immediate:
        return configured
    from app.execution import outbox

    def _announce(session: Session, _context, _instances) -> None:
        reviews = [obj for obj in session.new if isinstance(obj, Review) and obj.kind in (None, "draft")
                   and obj.status in (None, "pending")]
        if not reviews:
            return
        for review in reviews:
            review.id = review.id or new_id("rev")  # the column default runs only at insert; the message needs it now
        added = [_queue(session, target, payload, request_id=request_id, review_id=review_id)
                 for target, payload, request_id, review_id in _messages(immediate, reviews, settings)]
        if added:
            event.listen(session, "after_commit",
                         lambda _s: outbox.kick(store, settings, [row.id for row in added if row.id]), once=True)

    event.listen(store.sessions, "before_flush", _announce)
    return configured


def announce_inserted(connection: Connection, settings, reviews: list[Review]) -> list[int]:
    """The same ``review.created`` messages for drafts written with plain INSERTs (a task's outcome,
    ``app.tasks.runner``), which the session hook of ``watch`` never sees: queued in ``connection``'s
    transaction; their delivery ids, to deliver once it is committed."""
    from app.execution import outbox

    immediate = [channel for channel in channels(settings) if channel.digest_minutes == 0]
    return [outbox.insert(connection, target, payload, request_id=request_id, review_id=review_id)
            for target, payload, request_id, review_id in _messages(immediate, reviews, settings)]


def _messages(immediate: list[Channel], reviews: list[Review], settings) -> list[tuple[str, dict[str, Any], Any, Any]]:
    """(target, payload, request id, review id) of each immediate channel's message about these drafts."""
    messages = []
    for channel in immediate:
        items = [item_of(review, settings) for review in reviews if channel.wants(review.task_type)]
        if items:
            payload = created_payload(items)
            messages += [(target, payload, items[0]["request_id"], items[0]["review_id"]) for target in channel.targets]
    return messages


def _queue(session: Session, url: str, payload: dict[str, Any], *, request_id: str | None = None,
           review_id: str | None = None) -> Delivery:
    """An outbox row, added without flushing (this runs inside a flush); the outbox delivers it."""
    row = Delivery(url=url, payload=payload, event=payload["event"], request_id=request_id, review_id=review_id,
                   status="pending", attempts=0, next_attempt_at=utcnow())
    session.add(row)
    return row


def send_digests(store, settings, now: datetime | None = None) -> int:
    """Queue each digest channel's message when its interval has passed and items wait; returns how many.

    Run by the sweeper under its lock (one process at a time). The last digest's delivery row is the
    watermark: the next one lists the pending drafts created after its ``until``.
    """
    from app.execution import outbox

    now = now or utcnow()
    queued: list[int] = []
    for channel in channels(settings):
        if channel.digest_minutes == 0:
            continue
        interval = timedelta(minutes=channel.digest_minutes)
        with store.session() as session:
            last = session.scalar(select(Delivery).where(Delivery.event == DIGEST_EVENT,
                                                         Delivery.url == channel.targets[0])
                                  .order_by(Delivery.id.desc()).limit(1))
            if last is not None and _aware(last.created_at) + interval > now:
                continue
            since = datetime.fromisoformat(last.payload["until"]) if last is not None else now - interval
            query = select(Review).where(Review.kind == "draft", Review.status == "pending",
                                         Review.created_at > since, Review.created_at <= now)
            if channel.task_types is not None:
                query = query.where(Review.task_type.in_(sorted(channel.task_types)))
            reviews = session.scalars(query.order_by(Review.created_at)).all()
            if not reviews:
                continue
            items = [item_of(review, settings) for review in reviews[:DIGEST_LIST_LIMIT]]
            payload = digest_payload(items, len(reviews), since, now)
            rows = [_queue(session, target, payload) for target in channel.targets]
            session.flush()
            queued.extend(row.id for row in rows)
    outbox.kick(store, settings, queued)
    return len(queued)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


sweeper.every_sweep("digests", lambda rt: send_digests(rt.store, rt.settings))
