"""The core stays pure: no faust, aiokafka or aiohttp outside the shell modules (ruff TID251)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_banned_imports_and_lint_rules_hold() -> None:
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_core_modules_import_no_io_libraries() -> None:
    code = ("import sys, streams.core.pipeline, streams.core.tagging, streams.core.dedupe, alerts.engine, "
            "alerts.loader, connectors.core.parse, connectors.core.schedule; "
            "print(sorted(m for m in ('faust', 'aiokafka', 'aiohttp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
