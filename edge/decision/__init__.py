"""Decision engine: may this plate pass this gate now? Every answer carries a machine-readable reason."""

from edge.decision.engine import Decision, DecisionEngine, Match
from edge.decision.reasons import Reason

__all__ = ["Decision", "DecisionEngine", "Match", "Reason"]
