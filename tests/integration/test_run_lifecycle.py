"""`warwire run --demo` on its embedded broker: alerts on the console, and nothing left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, free_port_pair, wait_until

pytestmark = pytest.mark.kafka


def processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose environment carries the marker (every descendant inherits it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if state != "Z" and marker.encode() in env:
            found.append(int(entry.name))
    return found


WELT = "ALERT [WARNING] tracked-topics: UKRAINE-KRIEG: Überraschungsbesuch in Kiew"


def test_demo_start_stop_five_times_leaves_no_process(tmp_path: Path) -> None:
    """Five runs in a row, stopped by SIGINT to the process group (a terminal's Ctrl-C), SIGTERM,
    or SIGINT to the process: each prints demo alerts, stops every child cleanly in order (none
    needs SIGKILL), exits 0, and leaves no broker, worker or connector process alive."""
    for run in range(5):
        marker = f"WARWIRE_TEST_MARKER={uuid.uuid4().hex}"
        env = dict(os.environ)
        for k in ("WARWIRE_BROKER", "WARWIRE_SLACK_WEBHOOK_URL", "WARWIRE_WEBHOOK_URL", "WARWIRE_TOPIC_PREFIX"):
            env.pop(k, None)
        env.update({
            "WARWIRE_KAFKA_PORT": str(free_port_pair()), "WARWIRE_KAFKA_DATA": str(tmp_path / "kafka"),
            "WARWIRE_DEMO_PORT": str(free_port()), "WARWIRE_METRICS_PORT": "0",
            "WARWIRE_CONNECT_METRICS_PORT": "0", "PYTHONUNBUFFERED": "1",
            marker.split("=")[0]: marker.split("=")[1],
        })
        out = tmp_path / f"run{run}.out"
        with open(out, "wb") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "run", "--demo"], env=env, cwd=ROOT,
                                    stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                wait_until(lambda out=out: (t := out.read_text(errors="replace")).count("ALERT [") >= 5 and WELT in t,
                           120, what=f"demo alerts on the console, the WELT item's among them (run {run})")
                assert len(processes_with(marker)) >= 4  # supervisor, broker, worker, connector
                if run % 3 == 0:
                    os.killpg(proc.pid, signal.SIGINT)  # like Ctrl-C in a terminal
                else:
                    proc.send_signal(signal.SIGTERM if run % 3 == 1 else signal.SIGINT)
                assert proc.wait(90) == 0, out.read_text()[-3000:]
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        # Orphans are reparented and may need a moment to be reaped by init.
        deadline = time.monotonic() + 10
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_with(marker) == [], f"run {run} left processes behind"
        text = out.read_text(errors="replace")
        assert WELT in text
        stopped = re.findall(r"child_stopped\s+\[warwire.run\] child=(\w+) code=(-?\d+)", text)
        assert [c for c, _ in stopped] == ["connect", "worker", "kafka"], stopped
        assert all(code in ("0", "143") for _, code in stopped), stopped  # 143: the JVM's exit on SIGTERM
