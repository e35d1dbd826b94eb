"""The savings simulator: replay a log of past requests through the policy, with no model call."""
from app.simulate.engine import Simulation, SimulationError, simulate
from app.simulate.log import LogError, LogRow, read_log
from app.simulate.render import html, summary, table, to_json

__all__ = ["LogError", "LogRow", "Simulation", "SimulationError", "html", "read_log", "simulate", "summary", "table",
           "to_json"]
