"""A live `warwire run --demo`: its /metrics pass `promtool check metrics`, and every Grafana
panel's expression returns data from a real Prometheus scraping it (deploy/check_panels.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, free_port_pair, wait_until

pytestmark = pytest.mark.kafka


def test_live_metrics_lint_clean_and_every_dashboard_panel_returns_data(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: .ci/run installs Debian's prometheus package"
    worker, connect = free_port(), free_port()
    env = dict(os.environ, WARWIRE_KAFKA_PORT=str(free_port_pair()), WARWIRE_KAFKA_DATA=str(tmp_path / "kafka"),
               WARWIRE_DEMO_PORT=str(free_port()), WARWIRE_METRICS_PORT=str(worker),
               WARWIRE_CONNECT_METRICS_PORT=str(connect), PYTHONUNBUFFERED="1")
    for k in ("WARWIRE_BROKER", "WARWIRE_TOPIC_PREFIX", "WARWIRE_WEBHOOK_URL", "WARWIRE_SLACK_WEBHOOK_URL"):
        env.pop(k, None)
    out = tmp_path / "run.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "run", "--demo"], cwd=ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: out.read_text(errors="replace").count("ALERT [") >= 5, 150, what="demo alerts")
        for port in (worker, connect):
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
            lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
            assert lint.returncode == 0, (port, lint.stdout.decode() + lint.stderr.decode())
        check = subprocess.run([sys.executable, str(ROOT / "deploy" / "check_panels.py"),
                                "--worker", f"127.0.0.1:{worker}", "--connect", f"127.0.0.1:{connect}"],
                               capture_output=True, text=True, timeout=240)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "FAIL" not in check.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
