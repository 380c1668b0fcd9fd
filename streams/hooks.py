"""The private faust and aiokafka names warwire overrides or reads, checked when a worker starts.

faust-streaming and aiokafka are pinned exactly (pyproject.toml) because warwire reaches into
them: the consumer must not commit over offset gaps, table writes must reach RocksDB with their
changelog offset, the producer must be idempotent and tracked. A release that renames one of
these would otherwise change behaviour silently (a gap committed as processed, a changelog offset
stored before its data); `check` fails the start instead, naming what is gone.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib.metadata import version


@dataclass(frozen=True, slots=True)
class Hook:
    owner: str      # "module:Class"
    name: str
    why: str
    params: int | None = None   # positional parameters of a method, self included
    in_init: bool = False       # an attribute the class's __init__ sets


HOOKS = (
    Hook("faust.transport.drivers.aiokafka:Producer", "_settings_extra", "idempotent producer settings", 1),
    Hook("faust.transport.drivers.aiokafka:Producer", "_producer_type", "the tracking producer class (a property)"),
    Hook("faust.transport.drivers.aiokafka:Consumer", "_add_gap", "never commit over an offset gap (NoGapConsumer)", 4),
    Hook("faust.transport.consumer:Consumer", "_committed_offset", "offset continuity of every agent", in_init=True),
    Hook("faust:App", "in_recovery", "agents wait while the tables recover (Continuity.admit)"),
    Hook("faust:App", "flow_control", "stream queues kept when flow resumes unsuspended (FlowControl)"),
    Hook("mode.utils.queues:FlowControlEvent", "_suspend", "stream queues kept when flow resumes unsuspended", in_init=True),
    Hook("mode.utils.queues:FlowControlEvent", "_resume", "stream queues kept when flow resumes unsuspended", in_init=True),
    Hook("faust:App", "_new_producer_transport", "warwire's producer transport", 1),
    Hook("faust:App", "_new_transport", "warwire's consumer transport", 1),
    Hook("faust:Table", "_on_changelog_sent", "changelog offset stored with its data (BatchTable)", 2),
    Hook("faust:Table", "_changelog_topic_name", "changelog topic names checked at start", 1),
    Hook("faust.stores.rocksdb:Store", "_db_for_partition", "batched RocksDB writes (StateBatch)", 2),
    Hook("aiokafka:AIOKafkaConsumer", "_client", "topic metadata for partitions_of", in_init=True),
)


class HookMissing(RuntimeError):
    pass


def missing(hooks: tuple[Hook, ...] | None = None) -> list[str]:
    """What of `hooks` (default: HOOKS) the installed libraries lack, one line each."""
    out = []
    for h in HOOKS if hooks is None else hooks:
        module, cls_name = h.owner.split(":")
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except (ImportError, AttributeError) as exc:
            out.append(f"{h.owner}: not importable ({exc})")
            continue
        if h.in_init:
            try:
                present = f"self.{h.name}" in inspect.getsource(cls.__init__)
            except (OSError, TypeError):
                present = True  # no source to read: cannot tell, assume present
            if not present:
                out.append(f"{h.owner}.{h.name}: no longer set by __init__ ({h.why})")
            continue
        attr = getattr(cls, h.name, None)
        if attr is None:
            out.append(f"{h.owner}.{h.name}: gone ({h.why})")
        elif h.params is not None and callable(attr):
            n = len([p for p in inspect.signature(attr).parameters.values()
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
            if n != h.params:
                out.append(f"{h.owner}.{h.name}: takes {n} positional parameters, warwire expects {h.params} ({h.why})")
    return out


def check() -> None:
    """Raise HookMissing naming every private name that is gone, and the versions installed."""
    gone = missing()
    if gone:
        raise HookMissing(
            f"faust-streaming {version('faust-streaming')} / aiokafka {version('aiokafka')} lack what warwire "
            "overrides (pyproject.toml pins the versions it was built on):\n  " + "\n  ".join(gone))
