"""Which ranker a version serves when the service is told ``auto``: the paired test on held-out users.

Light on purpose (NumPy and training.paired): the service imports it at start, and torch only when the answer is
an RL policy or a baseline checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphrec.training.paired import paired_difference


def choose_served(records: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """What ``GRAPHREC_POLICY=auto`` serves, and why. Among the log replay's records of one set of evaluation
    users (the latest baselines'), the strongest baseline is the one of best mean evaluation return; an RL policy
    is served only when its per-user paired difference to that baseline has a bootstrap 95% interval above 0
    (training.paired), the largest such difference winning; otherwise the baseline is served. Without baseline
    records (checkpoints trained before they were recorded) it is the checkpoint of best validation return."""
    # a simulator's records rank that simulator's items, never the catalogue (training.rl.sim.checkpoints)
    records = {key: r for key, r in records.items() if r.get("env", "logreplay") in ("logreplay", "gan")}
    replayed = {key: r for key, r in records.items() if r.get("env", "logreplay") == "logreplay"}
    baselines = {key: r for key, r in replayed.items() if r.get("baseline") and "evaluation_returns" in r}
    if not baselines:
        if not records:
            return "greedy", "no checkpoint"
        name = max(replayed or records, key=lambda key: records[key]["validation_return"])
        return name, "best validation return (no baseline records)"
    strongest = max(baselines, key=lambda key: baselines[key]["evaluation_return"])
    users = baselines[strongest]["evaluation_fingerprint"]
    winners = {}
    for key, record in replayed.items():
        if record.get("baseline") or record.get("evaluation_fingerprint") != users:
            continue
        difference = paired_difference([np.asarray(record["evaluation_returns"])],
                                       [np.asarray(baselines[strongest]["evaluation_returns"])])
        if difference.above_zero:
            winners[key] = difference
    if not winners:
        return strongest, f"no RL policy beats {strongest} beyond the noise"
    best = max(winners, key=lambda key: winners[key].mean)
    return best, (f"{best} minus {strongest}: {winners[best].mean:+.4f} "
                  f"[{winners[best].ci95_low:+.4f}, {winners[best].ci95_high:+.4f}]")
