"""The ``/v1/classify`` request: items, labels and options, normalised into what the classifier reads.

Field names are the contract (docs/architecture.md, "API contract"). Items come as strings or as objects; an object's
text is its ``text_field`` (or its ``text`` key, or the whole row as JSON when neither exists, so a
spreadsheet row with several columns can be labelled as it is), and its id is its ``id_field`` (else its
position in the list). Ids are echoed back untouched; the model only ever sees positions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

DEFAULT_TASK_TYPE = "list_classification"
DEFAULT_CONFIDENCE_THRESHOLD = 0.75
MAX_ITEM_CHARS = 20_000
MAX_LABELS = 100
MAX_INSTRUCTIONS_CHARS = 20_000
UNKNOWN_LABEL = "unknown"


class LabelSpec(BaseModel):
    """One allowed label, optionally with what it means and a few example inputs."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    examples: list[str] = Field(default_factory=list, max_length=20)


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    # text_field and id_field come first: the items validator reads them.
    text_field: str | None = None
    id_field: str | None = None
    items: list[Any] = Field(min_length=1)
    labels: list[LabelSpec] = Field(min_length=1, max_length=MAX_LABELS)
    instructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS_CHARS)
    confidence_threshold: float = Field(default=DEFAULT_CONFIDENCE_THRESHOLD, ge=0, le=1)
    allow_unknown: bool = True
    task_type: str = DEFAULT_TASK_TYPE
    exec: Literal["sync", "async"] = "sync"
    callback_url: str | None = Field(default=None, max_length=2000)
    # Non-urgent lists through the provider's Message Batches API at the batch discount (always a job).
    batch: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("text_field", "id_field", "instructions", "callback_url", "task_type", mode="before")
    @classmethod
    def _blank_is_absent(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("task_type", mode="after")
    @classmethod
    def _default_task_type(cls, value):
        return value or DEFAULT_TASK_TYPE

    @field_validator("exec", mode="before")
    @classmethod
    def _lower(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_as_objects(cls, value):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if not isinstance(value, list):
            return value
        labels = []
        for label in value:
            if isinstance(label, str) and label.strip().startswith("{"):
                try:
                    label = json.loads(label)
                except ValueError:
                    pass
            labels.append({"name": label} if isinstance(label, str) else label)
        return [label for label in labels if not (isinstance(label, dict) and not str(label.get("name", "")).strip())]

    @field_validator("labels", mode="after")
    @classmethod
    def _labels_unique(cls, labels: list[LabelSpec]):
        seen: set[str] = set()
        for label in labels:
            key = label.name.casefold()
            if key in seen:
                raise ValueError(f"label {label.name!r} is given twice")
            seen.add(key)
        return labels

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value):
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("callback_url must be an http(s) URL")
        return value

    @field_validator("items", mode="after")
    @classmethod
    def _items_have_text(cls, items: list[Any], info: ValidationInfo):
        text_field = info.data.get("text_field")
        for position, item in enumerate(items):
            if isinstance(item, dict):
                if text_field and text_field not in item:
                    raise ValueError(f"item {position} has no field {text_field!r} (text_field)")
            elif not isinstance(item, (str, int, float)) or isinstance(item, bool):
                raise ValueError(f"item {position} must be a string or an object")
            if len(item_text(item, text_field)) > MAX_ITEM_CHARS:
                raise ValueError(f"item {position} is longer than {MAX_ITEM_CHARS} characters")
        return items

    # -- normalised views ------------------------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    def normalised_items(self) -> list[dict[str, Any]]:
        """``[{id, text}]`` in input order: the caller's id (or the position) and the text to label."""
        return [{"id": item_id(item, self.id_field, position), "text": item_text(item, self.text_field)}
                for position, item in enumerate(self.items)]

    def spec(self) -> "ClassifySpec":
        return ClassifySpec(labels=[label.model_dump(exclude_none=True) for label in self.labels],
                            instructions=self.instructions, confidence_threshold=self.confidence_threshold,
                            allow_unknown=self.allow_unknown, task_type=self.task_type)


def item_text(item: Any, text_field: str | None) -> str:
    if isinstance(item, dict):
        if text_field:
            value = item.get(text_field)
        elif "text" in item:
            value = item["text"]
        else:
            return json.dumps(item, ensure_ascii=False, sort_keys=True, default=str)
        return "" if value is None else str(value)
    return str(item)


def item_id(item: Any, id_field: str | None, position: int) -> Any:
    if isinstance(item, dict) and id_field and item.get(id_field) is not None:
        return item[id_field]
    return position


@dataclass(frozen=True)
class ClassifySpec:
    """What every chunk of one list shares: the labels, the caller's instructions and thresholds."""

    labels: list[dict[str, Any]]
    instructions: str | None = None
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    allow_unknown: bool = True
    task_type: str = DEFAULT_TASK_TYPE

    @property
    def label_names(self) -> list[str]:
        return [label["name"] for label in self.labels]

    def to_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "instructions": self.instructions,
                "confidence_threshold": self.confidence_threshold, "allow_unknown": self.allow_unknown,
                "task_type": self.task_type}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClassifySpec":
        return cls(**data)
