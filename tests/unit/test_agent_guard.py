"""Issue 16, hole 4: no exception escapes an agent. faust acks (and later commits) a batch whose
handler raised, so every agent handles each batch inside `uncommitted_on_failure`, which ends the
worker before the batch is acknowledged; its next start reads the batch again."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AGENT_MODULES = ("streams/stages.py", "alerts/delivery_lanes.py", "alerts/aggregate_stage.py")


def _agent_loops(path: Path) -> list[tuple[str, ast.AsyncFor]]:
    """(function, loop) for every `async for … in stream.take_events(…)` in the module."""
    loops = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if (isinstance(node, ast.AsyncFor) and isinstance(node.iter, ast.Call)
                        and getattr(node.iter.func, "attr", "") == "take_events"):
                    loops.append((fn.name, node))
    return loops


def test_every_agent_handles_its_batches_inside_the_guard() -> None:
    loops = [(m, name, loop) for m in AGENT_MODULES for name, loop in _agent_loops(ROOT / m)]
    assert {name for _, name, _ in loops} >= {"decide_items", "deliver", "lane", "aggregate"}
    for module, name, loop in loops:
        body = loop.body
        guarded = (len(body) == 1 and isinstance(body[0], ast.AsyncWith)
                   and isinstance(call := body[0].items[0].context_expr, ast.Call)
                   and getattr(call.func, "id", "") == "uncommitted_on_failure")
        assert guarded, f"{module}: {name}: a batch is handled outside uncommitted_on_failure"


def test_the_guard_ends_the_worker_on_a_failure_and_lets_cancellation_through(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from streams import shell

    exits: list[tuple[str, str]] = []
    monkeypatch.setattr(shell, "abort", lambda stage, reason: exits.append((stage, reason)))

    async def batch(exc: BaseException | None) -> str:
        async with shell.uncommitted_on_failure("decide"):
            if exc is not None:
                raise exc
        return "acked"

    assert asyncio.run(batch(None)) == "acked" and exits == []
    asyncio.run(batch(RuntimeError("the broker did not take the dead letter")))
    assert exits == [("decide", "RuntimeError: the broker did not take the dead letter")]
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(batch(asyncio.CancelledError()))
    assert len(exits) == 1
