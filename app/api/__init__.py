"""The JSON API under /v1. Each area is a module that adds its views to this blueprint."""
from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/v1")

from app.api import route  # noqa: E402,F401  (views register themselves on bp)
from app.api import reviews  # noqa: E402,F401
from app.api import reports  # noqa: E402,F401
from app.api import classify  # noqa: E402,F401
from app.api import fallback, jobs  # noqa: E402,F401  (issue 3)
from app.api import policy  # noqa: E402,F401  (issue 17)
from app.api import gateway  # noqa: E402  (issue 14: drop-in endpoints, with errors in the client's format)
from app.api import unknown_paths  # noqa: E402,F401  (issue 22: a 404 that spots a wrong Base URL)

bp.register_blueprint(gateway.bp)
