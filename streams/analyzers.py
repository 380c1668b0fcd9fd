"""Stage 1's CPU work (tagging and fingerprints) in helper processes.

The analyze stage hands each batch of raw values to a helper and sends what comes back, so the
worker's own process (which runs faust, stage 2 and delivery on one core) spends almost nothing
on tagging, and a second core does it. Measured in benchmarks/pipeline.py and docs/benchmarks.md.

Each helper keeps the compiled taxonomy of the version it last saw; the worker sends the
taxonomy spec with every batch, so a reload reaches the helpers with the next batch. A helper
that dies (killed, out of memory) breaks the pool: it is started again and the batch retried,
and a batch that fails twice is analyzed in the worker's own process. `processes = 0` analyzes
everything in-process. Helpers die with the worker (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from streams import logs
from streams.core.pipeline import analyze_values
from streams.core.tagging import Taxonomy, TaxonomySpec, compile_taxonomy

log = logs.get("warwire.analyzers")
Analyzed = tuple[list[tuple[str, bytes]], list[tuple[int, str]]]  # (records by language, errors by index)
_compiled: dict[str, Taxonomy] = {}


def _init_helper() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when helpers stop


def _run(version: str, spec: TaxonomySpec, values: Sequence[bytes | None]) -> Analyzed:
    tax = _compiled.get(version)
    if tax is None:
        _compiled.clear()
        tax = _compiled[version] = compile_taxonomy(spec)
    return analyze_values(tax, values)


class AnalyzerPool:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self.warm = processes <= 0

    async def warm_up(self, taxonomy: Taxonomy) -> None:
        """Start every helper and compile the taxonomy in it before the first batch: a helper
        started by the first batch costs that batch a second or more (a new interpreter, the
        stemmers, the automaton). The worker is not ready until this is done."""
        if self.processes > 0:
            loop = asyncio.get_running_loop()
            try:
                pool = self._executor()
                await asyncio.gather(*(loop.run_in_executor(pool, _run, taxonomy.version, taxonomy.spec, [])
                                       for _ in range(self.processes)))
            except BrokenProcessPool:
                log.warning("analyzer_restarted", attempt=0, reason="a helper process died while starting")
                self.close()  # the first batch starts the pool again (analyze)
        self.warm = True

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_helper)
        return self._pool

    async def analyze(self, taxonomy: Taxonomy, values: Sequence[bytes | None]) -> Analyzed:
        if self.processes <= 0:
            return analyze_values(taxonomy, values)
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            try:
                return await loop.run_in_executor(self._executor(), _run, taxonomy.version, taxonomy.spec, list(values))
            except BrokenProcessPool:
                log.warning("analyzer_restarted", attempt=attempt, reason="a helper process died")
                self.close()
        return analyze_values(taxonomy, values)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
