"""One worker's parts, as the composition root (streams/wiring.py) builds them and every agent
module reads them: agents take this object instead of module globals, so a test builds a worker
of its own and drives its agents in-process (tests/unit/test_agents.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.app import Tables, Topics, WarwireApp
from streams.config import Settings
from streams.live_config import LiveConfig
from streams.metrics import PipelineMetrics
from streams.shell import Continuity, DeadLetters, Rebalances


@dataclass(eq=False)
class Worker:
    settings: Settings
    worker_id: str
    app: WarwireApp
    topics: Topics
    tables: Tables
    metrics: PipelineMetrics
    config: LiveConfig
    letters: DeadLetters
    rebalances: Rebalances = field(default_factory=Rebalances)
    # Filled by the stage modules' register functions: their agents and tasks by name, and the
    # parts readiness and the other stages use (the analyzer pool, the intake, the delivery).
    agents: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict)

    def committed_offsets(self) -> dict[Any, int]:
        """The offsets faust's consumer committed, by topic partition (Continuity's start)."""
        return getattr(self.app.consumer, "_committed_offset", {})

    def continuity(self, stage: str) -> Continuity:
        return Continuity(stage, self.rebalances, lambda: self.committed_offsets(), lambda: bool(self.app.in_recovery))
