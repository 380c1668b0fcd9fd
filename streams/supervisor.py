"""`warwire run`: the whole pipeline as one process tree.

    warwire run ─┬─ kafka.sh run (java)   only when no broker is configured (the embedded default)
                 ├─ warwire worker        faust: tag → dedupe → rules → delivery, /metrics
                 ├─ warwire connect       feed connectors → warwire.raw, /metrics
                 └─ demo feed server      in this process, with --demo

SIGINT or SIGTERM (to this process, or Ctrl-C to the whole terminal group) stops the children in
reverse order (connectors, worker, broker), each with a grace period and then SIGKILL. Children
run in their own sessions so that only this process receives the terminal's signals, and they get
SIGTERM from the kernel if this process dies without cleaning up (PR_SET_PDEATHSIG), so nothing is
left behind. A worker or connector that exits by itself (a worker exits on purpose rather than
commit what it has not processed) is started again after 2 s, as a service manager would; five
exits within a minute stop the whole tree.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from streams import logs
from streams.config import ROOT, Settings
from streams.topics import BrokerUnavailable, ensure_topics, wait_for_broker

log = logs.get("warwire.run")
KAFKA_SCRIPT = ROOT / "deploy" / "kafka" / "kafka.sh"
DEMO_FEEDS = ROOT / "config" / "feeds.demo.yaml"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class Child:
    def __init__(self, name: str, proc: asyncio.subprocess.Process, grace_s: float) -> None:
        self.name, self.proc, self.grace_s = name, proc, grace_s

    async def stop(self) -> None:
        if self.proc.returncode is not None:
            return
        try:
            self.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(self.proc.wait(), self.grace_s)
        except TimeoutError:
            log.warning("child_killed", child=self.name, grace_s=self.grace_s)
            self.proc.kill()
            await self.proc.wait()
        log.info("child_stopped", child=self.name, code=self.proc.returncode)


async def _spawn(name: str, argv: list[str], env: dict[str, str], grace_s: float) -> Child:
    # Each child gets its own session, so a terminal's Ctrl-C reaches only this process, which
    # then stops the children in order (the broker last, after the worker has committed).
    proc = await asyncio.create_subprocess_exec(*argv, env=env, preexec_fn=_die_with_parent,
                                                start_new_session=True)
    log.info("child_started", child=name, pid=proc.pid)
    return Child(name, proc, grace_s)


def demo_settings(settings: Settings) -> Settings:
    """Demo runs start from empty state every time, so their alerts show on every run."""
    if settings.embedded:
        base = settings.kafka_data.parent / "demo"  # var/demo by default
        shutil.rmtree(base, ignore_errors=True)
        return replace(settings, kafka_data=base / "kafka", worker_data=base / "worker", feeds=DEMO_FEEDS)
    return replace(settings, topic_prefix=f"{settings.topic_prefix}demo-{int(time.time())}.", feeds=DEMO_FEEDS)


def child_env(settings: Settings, demo_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "WARWIRE_BROKER": settings.bootstrap, "WARWIRE_PARTITIONS": str(settings.partitions),
        "WARWIRE_REPLICATION_FACTOR": str(settings.replication_factor),
        "WARWIRE_WORKER_DATA": str(settings.worker_data), "WARWIRE_FEEDS": str(settings.feeds),
        "WARWIRE_TOPIC_PREFIX": settings.topic_prefix, "WARWIRE_METRICS_PORT": str(settings.metrics_port),
        "WARWIRE_CONNECT_METRICS_PORT": str(settings.connect_metrics_port),
        "WARWIRE_TAXONOMY": str(settings.taxonomy),
        "WARWIRE_RULES": ":".join(str(p) for p in settings.rules),
        "WARWIRE_LOG_FORMAT": settings.log_format, "PYTHONUNBUFFERED": "1",
    })
    if demo_url:
        env["WARWIRE_DEMO_URL"] = demo_url
    return env


async def run(settings: Settings, demo: bool = False, duration_s: float | None = None) -> int:
    if demo:
        settings = demo_settings(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    children: list[Child] = []
    demo_runner = None
    code = 0
    try:
        if settings.embedded:
            if not KAFKA_SCRIPT.exists():
                log.error("broker_script_missing", path=str(KAFKA_SCRIPT))
                return 2
            t0 = time.monotonic()
            kafka = await _spawn("kafka", ["bash", str(KAFKA_SCRIPT), "run", "--port", str(settings.kafka_port),
                                           "--data", str(settings.kafka_data)], dict(os.environ), 30.0)
            children.append(kafka)
            ready = asyncio.create_task(wait_for_broker(settings.bootstrap, 120.0))
            died = asyncio.create_task(kafka.proc.wait())
            await asyncio.wait({ready, died, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
            if not ready.done():
                ready.cancel()
                if died.done():
                    log.error("broker_failed", code=kafka.proc.returncode,
                              hint="see the output above; or set WARWIRE_BROKER=host:port to use your own Kafka")
                    return 1
                return 0
            died.cancel()
            ready.result()
            log.info("broker_ready", bootstrap=settings.bootstrap, seconds=round(time.monotonic() - t0, 1))
        else:
            await wait_for_broker(settings.bootstrap, 60.0)
        topics = await ensure_topics(settings)
        log.info("topics_ready", topics=topics)
        demo_url = None
        if demo:
            from connectors.demo.server import start as start_demo

            demo_runner = await start_demo(settings.demo_port)
            demo_url = f"http://127.0.0.1:{settings.demo_port}"
            log.info("demo_feeds_served", url=demo_url)
        env = child_env(settings, demo_url)
        me = [sys.executable, "-m", "streams.cli"]
        commands = {"worker": ([*me, "worker"], 20.0), "connect": ([*me, "connect"], 10.0)}
        for name, (argv, grace) in commands.items():
            children.append(await _spawn(name, argv, env, grace))
        stopper = asyncio.create_task(stop.wait())
        timer = asyncio.create_task(asyncio.sleep(duration_s)) if duration_s else None
        restarts: dict[str, list[float]] = {}
        while True:
            waits = {asyncio.create_task(c.proc.wait()): c for c in children}
            done, _ = await asyncio.wait({*waits, stopper, *([timer] if timer else [])},
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()
            exited = [waits[t] for t in done if t in waits]
            if stopper in done or (timer is not None and timer in done) or not exited:
                break
            if any(c.name == "kafka" for c in exited):
                log.error("child_exited", child="kafka", code=next(c.proc.returncode for c in exited if c.name == "kafka"))
                code = 1
                break
            for child in exited:
                # A worker exits on purpose when it must not commit (streams.shell.confirm,
                # Continuity): start it again, as a service manager would; give up if it keeps dying.
                recent = [t for t in restarts.get(child.name, []) if time.monotonic() - t < 60.0]
                log.warning("child_exited", child=child.name, code=child.proc.returncode, restarts_last_minute=len(recent))
                if len(recent) >= 5:
                    log.error("child_keeps_exiting", child=child.name, hint="see its log above")
                    code = 1
                    break
                restarts[child.name] = [*recent, time.monotonic()]
                await asyncio.sleep(2.0)
                argv, grace = commands[child.name]
                children[children.index(child)] = await _spawn(child.name, argv, env, grace)
            else:
                continue
            break
        for task in [stopper, *([timer] if timer else [])]:
            task.cancel()
    except BrokerUnavailable as exc:
        log.error("broker_unavailable", reason=str(exc),
                  hint="start one with `warwire kafka start`, or unset WARWIRE_BROKER for the embedded broker")
        code = 1
    finally:
        log.info("stopping", children=[c.name for c in reversed(children)])
        for child in reversed(children):
            await child.stop()
        if demo_runner is not None:
            await demo_runner.cleanup()
    return code


def kafka_script(command: str, settings: Settings) -> int:
    """`warwire kafka start|stop|status` → deploy/kafka/kafka.sh, plus topic creation on start."""
    import subprocess

    argv = ["bash", str(KAFKA_SCRIPT), command, "--data", str(settings.kafka_data)]
    if command == "start":
        argv += ["--port", str(settings.kafka_port)]
    code = subprocess.call(argv)
    if code == 0 and command == "start":
        asyncio.run(wait_for_broker(settings.bootstrap, 60.0))
        topics = asyncio.run(ensure_topics(settings))
        print(f"broker 127.0.0.1:{settings.kafka_port} ready; topics: "
              + ", ".join(f"{t} ({n})" for t, n in sorted(topics.items())))
    return code


__all__ = ["Path", "kafka_script", "run"]
