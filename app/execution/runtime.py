"""What the services need to run a request, gathered once per process: no Flask app handed around.

The request services (``app.tasks``, ``app.classify``) take a ``Runtime``: the store, the queue, the
settings, the policy in force and the providers built for it, the circuit breaker, and this process's
leases. Web processes and workers build one at start (``runtime_of``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, MutableMapping

from app.execution.leases import Leases
from app.providers import CircuitBreaker, Provider, build_tier_providers

if TYPE_CHECKING:
    from app.config import Settings
    from app.policy import Policy
    from app.execution.queue import JobQueue
    from app.store import Store


@dataclass
class Runtime:
    settings: "Settings"
    store: "Store"
    job_queue: "JobQueue"
    # The app's extensions, read for the policy in force: an operator may swap it while we run.
    _state: MutableMapping[str, Any] = field(repr=False)
    leases: Leases = field(default=None)  # type: ignore[assignment]
    # The Flask app, only for the shadow sampler, which still takes it (a refactor for later).
    app: Any = field(default=None, repr=False)

    def __post_init__(self):
        if self.leases is None:
            self.leases = Leases(self.store)
        self.breaker = CircuitBreaker.from_settings(self.job_queue.redis, self.settings)

    @property
    def redis(self):
        return self.job_queue.redis

    @property
    def routing(self):
        """The policy in force and the routers compiled from it (``app.routing.state.RoutingState``)."""
        return self._state["routing"]

    @property
    def llm_routing(self):
        """The LLM router behind the ``llm`` and ``hybrid`` modes, when the app has one."""
        return self._state.get("llm_routing")

    def policy(self) -> "Policy":
        return self._state["routing"].policy

    def providers(self, policy: "Policy | None" = None) -> dict[str, Provider]:
        """The providers per tier, rebuilt only when the policy's tiers, providers or prices change."""
        policy = policy or self.policy()
        built_for = self._state.get("providers.policy")
        if "providers" not in self._state or built_for is None or _transport(built_for) != _transport(policy):
            self._state["providers"] = build_tier_providers(policy, self.settings)
        self._state["providers.policy"] = policy
        return self._state["providers"]


def _transport(policy: "Policy") -> tuple:
    return policy.tiers, policy.providers, policy.prices


def runtime_of(app) -> Runtime:
    """The app's runtime, built on first use."""
    app = app._get_current_object() if hasattr(app, "_get_current_object") else app  # not the request proxy
    runtime = app.extensions.get("runtime")
    if runtime is None:
        runtime = app.extensions["runtime"] = Runtime(app.config["TIERGATE"], app.extensions["store"],
                                                      app.extensions["job_queue"], app.extensions, app=app)
    return runtime
