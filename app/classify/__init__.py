"""List classification: label many items with caller-given labels, chunk by chunk, on the cheapest tier.

``classify_chunk`` is the pure cascade for one chunk; ``service`` runs a whole list against the ledger
(inline for short lists, in a worker for long ones); ``batches`` sends a non-urgent list through the
provider's Message Batches API at the batch discount.
"""
from app.classify.chunk import ChunkOutcome, ClassifyPlan, classify_chunk
from app.classify.request import ClassifyRequest, ClassifySpec

__all__ = ["ChunkOutcome", "ClassifyPlan", "ClassifyRequest", "ClassifySpec", "classify_chunk"]
