"""Policy checkpoints: tensors and plain values only, so that loading runs no pickled code
(torch.load(weights_only=True)); a checkpoint belongs to the artifact version whose item embeddings it holds."""

from __future__ import annotations

import pickle
from dataclasses import asdict
from pathlib import Path

import torch

from graphrec.training.rl.nets import CandidatePolicy
from graphrec.training.rl.ranker_classes import policy_class


def save_policy(policy: CandidatePolicy, path: Path) -> None:
    """Tensors and plain values only, so that loading needs no pickled code (torch.load(weights_only=True))."""
    torch.save({"name": policy.name, "config": asdict(policy.config), "state": policy.state_dict(),
                "item_vectors": policy.items.table[:-1].clone(), "item_quality": policy.items.quality[:-1].clone(),
                "extra": policy.build_arguments()}, path)



def load_policy(path: Path) -> CandidatePolicy:
    """A policy checkpoint written by save_policy, ready to score (eval mode). Loaded weights-only: a checkpoint
    is data, and a file that needs pickled code to load is refused rather than run."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path}: not a weights-only policy checkpoint (one written before checkpoints held "
                         "tensors only, or not by graphrec); run `graphrec train-policy` on this version again") \
            from error
    cls = policy_class(saved["name"])
    policy = cls.build(saved["item_vectors"].numpy(), saved["item_quality"].numpy(),
                       cls.config_type(**saved["config"]), **saved["extra"])
    policy.load_state_dict(saved["state"])
    policy.eval()
    return policy
