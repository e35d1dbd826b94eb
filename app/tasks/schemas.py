"""Request bodies of the API as pydantic models; field names are the contract (docs/architecture.md, "API contract")."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_TEXT_CHARS = 2_000_000


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class TaskInput(BaseModel):
    """What every routed request carries: the input, its task type and its risk."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    task_type: str | None = Field(default=None, max_length=100)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    messages: list[Message] | None = None
    risk: Literal["low", "medium", "high"] = "low"
    external: bool = False
    # None: ``learned`` for free text, ``rules`` when the caller names the task type (see resolved_mode).
    mode: Literal["rules", "learned", "llm", "hybrid"] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("task_type", "text", mode="before")
    @classmethod
    def _blank_is_absent(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("risk", "mode", mode="before")
    @classmethod
    def _lower(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _has_input(self):
        if not self.text and not self.messages:
            raise ValueError("give the input as 'text' or as 'messages'")
        return self

    @property
    def resolved_mode(self) -> str:
        return self.mode or ("rules" if self.task_type else "learned")

    def as_messages(self) -> list[dict[str, str]]:
        if self.messages:
            return [message.model_dump() for message in self.messages]
        return [{"role": "user", "content": self.text or ""}]


class RouteRequest(TaskInput):
    pass
