"""Durable storage: SQLAlchemy models and the store that owns the engine."""
from app.store.db import Store
from app.store.models import (ApiKey, Attempt, Base, ClassifyChunk, Decision, Delivery, PolicyVersion, Request, Review,
                              Reviewer, new_id, utcnow)
from app.store.shadow import SHADOW_KIND, ShadowComparison

__all__ = ["ApiKey", "Attempt", "Base", "ClassifyChunk", "Decision", "Delivery", "PolicyVersion", "Request", "Review",
           "Reviewer", "SHADOW_KIND", "ShadowComparison", "Store", "new_id", "utcnow"]
