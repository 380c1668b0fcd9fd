"""Issue 16, the kill scenario's self-exits: faust resumes flow at every step of a start-up's
recovery, also while the streams already run, and mode's resume emptied every stream queue each
time. The records a queue held were already handed over by the fetcher, so they were never
fetched again and the slowest agent saw a gap (streams.shell.Continuity made the worker exit)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from streams.app import create_app
from streams.config import Settings


async def test_a_resume_while_streams_run_keeps_what_their_queues_hold(tmp_path: Path) -> None:
    app = create_app(Settings(worker_data=tmp_path), worker_id="t")
    queue = app.FlowControlQueue(maxsize=100, clear_on_resume=True)  # as every agent's channel has
    app.flow_control.resume()  # the first recovery step: the streams start
    for offset in range(25, 47):
        queue.put_nowait(offset)
    app.flow_control.resume()  # a later recovery step ("Resuming flow...") while they run
    assert queue.qsize() == 22
    assert [queue.get_nowait() for _ in range(3)] == [25, 26, 27]


async def test_after_a_real_suspension_the_queues_are_emptied_as_before(tmp_path: Path) -> None:
    """A rebalance suspends flow; the partitions are then read again from their committed
    offsets, so what the queues held must go (it would arrive twice, out of order)."""
    app = create_app(Settings(worker_data=tmp_path), worker_id="t")
    queue = app.FlowControlQueue(maxsize=100, clear_on_resume=True)
    app.flow_control.resume()
    queue.put_nowait(1)
    app.flow_control.suspend()
    assert not app.flow_control.is_active()
    app.flow_control.resume()
    assert queue.qsize() == 0 and app.flow_control.is_active()
    await asyncio.wait_for(app.flow_control.acquire(), 1)  # nothing waits once resumed
