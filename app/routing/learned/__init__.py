"""The learned router: a small local model, shipped with the package, that places free text."""
from app.routing.learned.model import LearnedModel, WeightFileError, read_weights, shipped_model
from app.routing.learned.router import LearnedRouter, LearnedScore

__all__ = ["LearnedModel", "LearnedRouter", "LearnedScore", "WeightFileError", "read_weights", "shipped_model"]
