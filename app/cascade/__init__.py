"""The cascade engine: a pure library (no Flask, no database) that the request services call."""
from app.cascade.engine import CallObserver, CascadeInput, run_cascade
from app.cascade.records import AttemptRecord, CascadeResult

__all__ = ["AttemptRecord", "CallObserver", "CascadeInput", "CascadeResult", "run_cascade"]
