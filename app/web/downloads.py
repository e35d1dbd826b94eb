"""File downloads shared by the report API and the report pages."""
from __future__ import annotations

from flask import Response


def csv_response(text: str, filename: str) -> Response:
    """``text`` as a CSV attachment named ``filename``."""
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
