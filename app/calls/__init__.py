"""The one guarded model call (``Guards``) and the attempt record every call leaves in the ledger."""
from app.calls.attempt import ANSWER, ESCALATION, RETRY, SELF_CHECK, AttemptRecord
from app.calls.guarded import BUDGET, CIRCUIT, PROVIDER, CallObserver, CallRefused, Guards, SpendGuard, call_upper_bound

__all__ = ["ANSWER", "BUDGET", "CIRCUIT", "ESCALATION", "PROVIDER", "RETRY", "SELF_CHECK", "AttemptRecord",
           "CallObserver", "CallRefused", "Guards", "SpendGuard", "call_upper_bound"]
