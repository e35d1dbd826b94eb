"""What the services need to run a request, gathered once per process: no Flask app handed around.

The services (``app.tasks``, ``app.classify``, ``app.shadow``, ``app.sampling``, ``app.reviews``) and
the RQ jobs take a ``Runtime``: the settings, the store, the queue, the policy in force (swappable: an
operator may apply or roll back a version while we run) and the providers built for it, the circuit
breaker, this process's leases and the LLM router. Web processes (``create_app``) and workers
(``workers.context``) each build one at start with ``Runtime.build``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.execution.leases import Leases
from app.providers import CircuitBreaker, Provider, build_tier_providers
from app.routing.state import RoutingState

if TYPE_CHECKING:
    from app.config import Settings
    from app.execution.queue import JobQueue
    from app.policy import Policy
    from app.routing.hybrid import LlmRouting
    from app.store import Store


@dataclass
class Runtime:
    settings: "Settings"
    store: "Store"
    job_queue: "JobQueue"
    # The policy in force and the routers compiled from it; replaced whole by ``install_policy``, so a
    # request in flight keeps the policy it started with.
    routing: RoutingState
    leases: Leases = field(default=None)  # type: ignore[assignment]
    # The stored policy version in force (None: the policy file); see app.sampling.versions.
    policy_version: int | None = None
    _providers: tuple["Policy", dict[str, Provider]] | None = field(default=None, repr=False)
    _llm_routing: "LlmRouting | None" = field(default=None, repr=False)

    def __post_init__(self):
        if self.leases is None:
            self.leases = Leases(self.store)
        self.breaker = CircuitBreaker.from_settings(self.job_queue.redis, self.settings)

    @classmethod
    def build(cls, settings: "Settings", *, migrate: bool = True) -> "Runtime":
        """Store (migrated unless ``migrate=False``), queue, the policy file in force, and the providers.

        The entry points (``create_app``, ``workers.context``) then put a stored policy version in force
        if an operator applied one (``app.sampling.sync_policy``; kept out of here so the execution layer
        does not import the sampling service). Providers are built here, at start, so RQ's forked work
        horses inherit them ready instead of importing the SDK and building them again per job.
        """
        from app.execution.queue import JobQueue
        from app.policy import load_policy
        from app.store import Store

        settings = settings.ensure_secrets()
        store = Store(settings.sqlalchemy_url)
        if migrate:
            store.migrate()
        rt = cls(settings, store, JobQueue(settings), RoutingState.from_policy(load_policy(settings.policy_path)))
        rt.providers()
        return rt

    @property
    def redis(self):
        return self.job_queue.redis

    def policy(self) -> "Policy":
        return self.routing.policy

    def install_policy(self, policy: "Policy") -> None:
        """Put ``policy`` in force for the requests that start from now on."""
        self.routing = RoutingState.from_policy(policy)

    def providers(self, policy: "Policy | None" = None) -> dict[str, Provider]:
        """The providers per tier, rebuilt only when the policy's tiers, providers or prices change."""
        policy = policy or self.policy()
        built = self._providers
        if built is None or _transport(built[0]) != _transport(policy):
            built = (policy, build_tier_providers(policy, self.settings))
        self._providers = (policy, built[1])
        return built[1]

    @property
    def llm_routing(self) -> "LlmRouting":
        """The LLM router behind the ``llm`` and ``hybrid`` routing modes."""
        if self._llm_routing is None:
            from app.routing.hybrid import LlmRouting

            self._llm_routing = LlmRouting(lambda: self.routing, self.providers, self.breaker)
        return self._llm_routing

    def close(self) -> None:
        """Release the database connections (tests and short-lived commands)."""
        self.store.dispose()


def _transport(policy: "Policy") -> tuple[Any, ...]:
    return policy.tiers, policy.providers, policy.prices
