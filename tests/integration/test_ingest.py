"""`warwire ingest FILE.jsonl` publishes items for the pipeline, reporting bad lines."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import ROOT, wait_until

pytestmark = pytest.mark.kafka


def test_ingested_items_flow_through_the_pipeline_and_bad_lines_are_reported(run_env, spawn, tmp_path) -> None:
    lines = [json.dumps({"id": f"ing-{i}", "title": title, "lang": "en", "source": "backfill"})
             for i, title in enumerate(["Air defence shoots down drones over Kyiv", "Power station hit in Kharkiv"])]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join([lines[0], "this is not json", lines[1]]) + "\n")
    res = subprocess.run([sys.executable, "-m", "streams.cli", "ingest", str(path)], cwd=ROOT, env=run_env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1  # one bad line
    assert f"{path}:2: not a valid NewsItem" in res.stderr
    assert "published 2 item(s)" in res.stderr and "1 bad line(s) skipped" in res.stderr
    spawn("worker", ["worker"], run_env)
    port = run_env["WARWIRE_METRICS_PORT"]

    def tagged() -> str:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        except OSError:
            return ""

    wait_until(lambda: 'warwire_tagging_items_total{topic="air-defence"} 1.0' in tagged()
               and 'warwire_tagging_items_total{topic="energy-infrastructure"} 1.0' in tagged(), 90,
               what="both ingested items to be tagged")
