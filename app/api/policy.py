"""GET /v1/policy/task-types: the policy's task types, for pickers in the integrations.

The n8n node loads its Task Type dropdown from here, so a typo can no longer reach the API as a 422
at run time. Any valid key may read it: the list says nothing a caller of the API doesn't need.
"""
from __future__ import annotations

from flask import jsonify

from app.api import bp
from app.api.auth import authenticate_any
from app.web.openapi import document
from app.routing.state import current_policy


@bp.get("/policy/task-types")
def list_task_types():
    """Every task type of the active policy with its description, default tier and review rule."""
    authenticate_any()
    policy = current_policy()
    items = [{"name": name, "description": task.description, "tier": task.tier, "review": task.review,
              "output_format": task.output_format}
             for name, task in sorted(policy.task_types.items())]
    return jsonify({"items": items})


document("/v1/policy/task-types", "get", "The policy's task types with their descriptions (for integration pickers)",
         scope="any", responses={"200": "items: [{name, description, tier, review, output_format}]",
                                 "401": "no or bad key"})
