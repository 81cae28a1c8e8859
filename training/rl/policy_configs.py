"""The typed config of each RL policy, and the ``name=value`` overrides the command line sets them with."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from graphrec.training.rl.drr import DRRConfig
from graphrec.training.rl.kgdqn import KGDQNConfig
from graphrec.training.rl.ppo import PPOConfig
from graphrec.training.rl.slateq import SlateQConfig

CONFIGS: dict[str, type] = {"drr": DRRConfig, "ppo": PPOConfig, "slateq": SlateQConfig, "kgdqn": KGDQNConfig}


def parse_overrides(policy: str, pairs: list[str]) -> dict[str, Any]:
    """``["gamma=0.8", "khop_filter=false"]`` -> typed values for ``policy``'s config; a ValueError names the
    pair that is malformed, the knob the config lacks (with the ones it has) or the value of the wrong type."""
    config = CONFIGS[policy]()
    known = {field.name: getattr(config, field.name) for field in fields(config)}
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, equals, text = pair.partition("=")
        name = name.strip()
        if not equals or not name:
            raise ValueError(f"--set {pair!r}: expected name=value")
        if name not in known:
            raise ValueError(f"--set {pair!r}: {policy} has no knob {name!r}; it has {', '.join(known)}")
        default = known[name]
        try:
            if isinstance(default, bool):
                if text.strip().lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                overrides[name] = text.strip().lower() in ("true", "1")
            else:
                overrides[name] = type(default)(text.strip())
        except ValueError:
            raise ValueError(f"--set {pair!r}: {name} takes a {type(default).__name__} "
                             f"(default {default!r})") from None
    return overrides


def with_overrides(policy: str, overrides: dict[str, Any], **fixed: Any) -> Any:
    return replace(CONFIGS[policy](), **fixed, **overrides)
