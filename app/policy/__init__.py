"""The routing policy: tiers, prices, upgrade rules and task types, loaded from YAML."""
from app.policy.loader import default_policy_text, load_policy, parse_policy
from app.policy.schema import GateSpec, Policy, TaskType, TierSpec

__all__ = ["GateSpec", "Policy", "TaskType", "TierSpec", "default_policy_text", "load_policy", "parse_policy"]
