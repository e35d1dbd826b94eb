"""The JSON API under /v1. Each area is a module that adds its views to this blueprint."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/v1")

from app.api import route  # noqa: E402,F401  (views register themselves on bp)
