"""The policy in force and the routers compiled from it, swappable at run time.

A policy change (an operator applying a sampling recommendation, a rollback) replaces the whole
object, so a request in flight keeps the policy it started with.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from flask import current_app

from app.policy import Policy
from app.routing import RulesRouter


@dataclass(frozen=True)
class RoutingState:
    policy: Policy
    rules: RulesRouter

    @cached_property
    def learned(self):
        """The learned router for this policy, built on first use (it reads the shipped weight file)."""
        from app.routing.learned import LearnedRouter

        return LearnedRouter(self.policy, self.rules)

    @classmethod
    def from_policy(cls, policy: Policy) -> "RoutingState":
        return cls(policy=policy, rules=RulesRouter(policy))


def current_policy() -> Policy:
    return current_app.extensions["routing"].policy


def install_policy(app, policy: Policy) -> None:
    app.extensions["routing"] = RoutingState.from_policy(policy)
