#!/usr/bin/env python3
"""Prove the Grafana dashboards work: every panel's query returns data from a live warwire.

    python deploy/check_panels.py --start-demo          # start `warwire run --demo` itself
    python deploy/check_panels.py --worker 127.0.0.1:9464 --connect 127.0.0.1:9465

Starts a real Prometheus (Debian's `prometheus` binary) with a 1 s scrape interval against the
worker's and the connectors' /metrics, waits until both are scraped and rates have samples, then
runs each panel expression of deploy/grafana/dashboards/*.json through Prometheus' HTTP API.
Prints one line per expression and exits 1 if any is invalid or returns no series.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"


def free_port() -> int:
    """A free port below the kernel's ephemeral range (32768 and up), where no outgoing
    connection can take it before Prometheus binds it."""
    for _ in range(200):
        port = random.randint(10000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def get_json(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def wait(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"check_panels: timed out after {timeout:.0f}s waiting for {what}")


def panel_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for p in board["panels"]:
            for t in p.get("targets", []):
                out.append((board["title"], p["title"], t["expr"]))
    return out


def start_demo(workdir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    worker, connect = free_port(), free_port()
    env = dict(os.environ, WARWIRE_KAFKA_PORT=str(_port_pair()), WARWIRE_KAFKA_DATA=str(workdir / "kafka"),
               WARWIRE_DEMO_PORT=str(free_port()), WARWIRE_METRICS_PORT=str(worker),
               WARWIRE_CONNECT_METRICS_PORT=str(connect), PYTHONUNBUFFERED="1")
    for k in ("WARWIRE_BROKER", "WARWIRE_TOPIC_PREFIX"):
        env.pop(k, None)
    log = open(workdir / "warwire.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "run", "--demo"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait(lambda: (workdir / "warwire.log").read_text(errors="replace").count("ALERT [") >= 5, 180,
         "demo alerts from warwire run --demo")
    return proc, f"127.0.0.1:{worker}", f"127.0.0.1:{connect}"


def _port_pair() -> int:
    while True:
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
                return p
            except OSError:
                continue


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help="host:port of the worker's /metrics")
    ap.add_argument("--connect", help="host:port of the connectors' /metrics")
    ap.add_argument("--start-demo", action="store_true", help="start `warwire run --demo` and stop it after")
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--settle", type=float, default=8.0, help="seconds of scrapes before querying")
    args = ap.parse_args()
    if not Path(args.prometheus).exists():
        print("check_panels: Prometheus is not installed (Debian: apt-get install prometheus)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="warwire-panels-"))
    demo = None
    prom = None
    try:
        if args.start_demo:
            demo, args.worker, args.connect = start_demo(workdir)
        if not (args.worker and args.connect):
            ap.error("give --worker and --connect, or --start-demo")
        port = free_port()
        (workdir / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n"
            f"  - {{job_name: warwire-worker, static_configs: [{{targets: ['{args.worker}']}}]}}\n"
            f"  - {{job_name: warwire-connect, static_configs: [{{targets: ['{args.connect}']}}]}}\n")
        prom = subprocess.Popen([args.prometheus, f"--config.file={workdir / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=open(workdir / "prometheus.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
        api = f"http://127.0.0.1:{port}/api/v1/query?query="

        def query(expr: str) -> dict:
            return get_json(api + urllib.parse.quote(expr))

        wait(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2).status == 200,
             60, "Prometheus to be ready")
        wait(lambda: len([r for r in query("up == 1")["data"]["result"]]) == 2, 60, "both targets to be scraped")
        time.sleep(args.settle)
        failures = 0
        for board, title, expr in panel_queries():
            try:
                res = query(expr)
                series = res["data"]["result"]
                ok, note = bool(series), f"{len(series)} series"
            except urllib.error.HTTPError as exc:
                ok, note = False, f"invalid: {json.loads(exc.read()).get('error', exc)}"
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {board} / {title}: {note}\n     {expr}")
        print(f"{len(panel_queries()) - failures} of {len(panel_queries())} panel queries returned data")
        return 1 if failures else 0
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(30)
        if demo is not None:
            demo.send_signal(signal.SIGTERM)
            try:
                demo.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
