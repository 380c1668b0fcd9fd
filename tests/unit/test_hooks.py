"""Issue 16: the private faust/aiokafka names warwire relies on are checked at start-up."""

from __future__ import annotations

import pytest

from streams import hooks


def test_the_pinned_libraries_have_every_private_name_warwire_overrides() -> None:
    assert hooks.missing() == []
    names = {h.name for h in hooks.HOOKS}
    assert {"_add_gap", "_on_changelog_sent", "_db_for_partition", "_committed_offset", "_settings_extra"} <= names


def test_a_name_that_is_gone_or_changed_is_reported_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = hooks.Hook("faust:Table", "_no_such_hook", "a test")
    changed = hooks.Hook("faust.transport.drivers.aiokafka:Consumer", "_add_gap", "gaps", params=2)
    unset = hooks.Hook("faust.transport.consumer:Consumer", "_never_set_here", "continuity", in_init=True)
    problems = hooks.missing((gone, changed, unset))
    assert problems == ["faust:Table._no_such_hook: gone (a test)",
                        "faust.transport.drivers.aiokafka:Consumer._add_gap: takes 4 positional parameters, "
                        "warwire expects 2 (gaps)",
                        "faust.transport.consumer:Consumer._never_set_here: no longer set by __init__ (continuity)"]
    monkeypatch.setattr(hooks, "HOOKS", (gone,))
    with pytest.raises(hooks.HookMissing, match=r"(?s)faust-streaming 0\.15\.3 / aiokafka 0\.14\.0 lack .*_no_such_hook"):
        hooks.check()


def test_pyproject_pins_faust_and_aiokafka_exactly() -> None:
    from tests.unit.test_architecture import ROOT
    text = (ROOT / "pyproject.toml").read_text()
    assert '"faust-streaming[rocksdict]==0.15.3"' in text and '"aiokafka==0.14.0"' in text
