"""The worker's live configuration: the active taxonomy, rules, receivers and silences, each
replaced only by a load that succeeds (a broken edit is logged, counted, and the active version
stays). Built by the composition root (streams/wiring.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alerts import delivery
from alerts.engine import RuleSet, compile_rules
from alerts.loader import load_rules, rule_files
from alerts.silences import Silence
from streams import logs
from streams.config import Settings
from streams.core.spec import SpecError
from streams.core.tagging import Taxonomy, compile_taxonomy, load_taxonomy
from streams.metrics import PipelineMetrics

log = logs.get("warwire.worker")


class LiveConfig:
    """The active taxonomy, rules and receivers; replaced only by a load that succeeds."""

    def __init__(self, settings: Settings, metrics: PipelineMetrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.taxonomy: Taxonomy = compile_taxonomy(load_taxonomy(settings.taxonomy))
        self.receivers = delivery.resolve_receivers({})
        self.rules: RuleSet = self._load_rules()
        self._mtimes = self._stat()
        self.silences: list[Silence] = []
        metrics.config_version.labels("taxonomy", self.taxonomy.version).set(1)
        metrics.config_version.labels("rules", self.rules.version).set(1)
        metrics.last_reload_ok.labels("taxonomy").set(1)
        metrics.last_reload_ok.labels("rules").set(1)

    def _load_rules(self) -> RuleSet:
        spec = load_rules(list(self.settings.rules), self.taxonomy.spec.topic_ids)
        self.receivers = delivery.resolve_receivers(spec.receivers)
        for name, r in self.receivers.items():
            if not r.configured:
                log.warning("receiver_unconfigured", receiver=name,
                            variable=spec.receivers[name].url_env or spec.receivers[name].token_env,
                            hint="set its url_env (slack-app: token_env) variable to deliver there; "
                                 "its alerts go to the console")
            if r.type == "webhook" and r.secret is None:
                log.warning("receiver_unsigned", receiver=name, variable=spec.receivers[name].secret_env,
                            hint="its requests go out without X-Warwire-Signature: set secret_env and the variable "
                                 "so that the receiver can verify them")
        return compile_rules(spec, {n: r.configured for n, r in self.receivers.items()})

    def _stat(self) -> dict[Path, float]:
        files = [self.settings.taxonomy, *rule_files(list(self.settings.rules))]
        return {f: f.stat().st_mtime for f in files if f.exists()}

    def reload_if_changed(self) -> None:
        """Reload the taxonomy and the rules when a file changed. Each is replaced only by a
        version that loads; a broken edit is logged, counted, and the active version stays."""
        now = self._stat()
        if now == self._mtimes:
            return
        self._mtimes = now
        tax = self._reload("taxonomy", lambda: compile_taxonomy(load_taxonomy(self.settings.taxonomy)),
                           self.taxonomy.version)
        if tax is not None:
            self.taxonomy = tax
        rules = self._reload("rules", self._load_rules, self.rules.version)
        if rules is not None:
            self.rules = rules

    def _reload(self, kind: str, load: Callable[[], Any], active: str) -> Any:
        m = self.metrics
        try:
            new = load()
        except SpecError as exc:
            m.reloads.labels(kind, "error").inc()
            m.last_reload_ok.labels(kind).set(0)
            log.error(f"{kind}_reload_rejected", errors=[str(i) for i in exc.issues], active_version=active)
            return None
        m.last_reload_ok.labels(kind).set(1)
        if new.version == active:
            return None
        m.config_version.labels(kind, active).set(0)
        m.config_version.labels(kind, new.version).set(1)
        m.reloads.labels(kind, "ok").inc()
        log.info(f"{kind}_reloaded", version=new.version)
        return new

    def set_silences(self, current: dict[str, Silence], now: float) -> None:
        self.silences = [s for s in current.values() if s.ends_at > now]
        active = sum(s.active(now) for s in self.silences)
        self.metrics.silences_active.set(active)
        log.info("silences_updated", active=active)
