"""The names a user picks models and policies by: one enum each, which the registries key on and the settings,
the API schemas and the command line offer as their choices. Importing this module loads no model code."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Protocol = Literal["ms", "recbole", "temporal"]  # evaluation protocols (training.splits)
IndexKind = Literal["auto", "flat", "ivf", "ivfpq", "hnsw"]  # FAISS index kinds (training.index)
BLEND = "blend"  # an evaluation pseudo-model: models before it in the list, chosen and weighted on validation


class Model(StrEnum):
    """Every model of the evaluation harness (training.models.registry)."""

    popularity = "popularity"
    itemknn = "itemknn"
    rp3beta = "rp3beta"
    ease = "ease"
    kgease = "kgease"
    kgease_beta = "kgease_beta"
    bpr = "bpr"
    lightgcn = "lightgcn"
    graphsage = "graphsage"
    kgcn = "kgcn"


class Encoder(StrEnum):
    """The models that write user and item embeddings: what `train` and the refresh publish and FAISS indexes."""

    lightgcn = "lightgcn"
    graphsage = "graphsage"
    kgcn = "kgcn"
    bpr = "bpr"


class RankingPolicy(StrEnum):
    """RL policies that rank a candidate set (training.rl.ranker_classes): trained by train-policy, served by name."""

    drr = "drr"
    ppo = "ppo"
    kgdqn = "kgdqn"


class BaselineRanker(StrEnum):
    """Non-RL rankers with weights tuned like a policy is trained (training.rl.reference_rankers): the RL policies'
    baselines, stored and served as checkpoints too."""

    greedy_quality = "greedy_quality"
    greedy_folded = "greedy_folded"


class ServedPolicy(StrEnum):
    """What the service ranks with: auto (what the version's paired test on held-out users chose: an RL policy
    that beats the best baseline ranker, else that ranker; greedy when the version has no checkpoint), greedy
    (the encoder's dot product), or a ranker by name."""

    auto = "auto"
    greedy = "greedy"
    greedy_quality = "greedy_quality"
    greedy_folded = "greedy_folded"
    drr = "drr"
    ppo = "ppo"
    kgdqn = "kgdqn"


# The log replay's non-RL rankers (training.rl.reference_rankers; ease scores with the quality table's EASE) and every
# ranker a log-replay table can hold, baselines first.
EASE_RANKER = "ease"
REFIT_RANKER = "greedy_refit"  # greedy over an encoder trained again on fit + tune (training.rl.reference_rankers)
QUALITY_SUFFIX = "_quality"  # a ranker plus a tuned weight times the item-quality prior every policy gets
KHOP_BLEND = "blend_khop"  # the policies' starting blend with KG-DQN's two-hop candidate filter
REPLAY_BASELINES = ("greedy", *BaselineRanker, REFIT_RANKER, EASE_RANKER, f"{EASE_RANKER}{QUALITY_SUFFIX}",
                    f"{REFIT_RANKER}{QUALITY_SUFFIX}", KHOP_BLEND)
# The discount-0 twin of an RL policy: the same network and training, myopic (what the long-term term adds is the
# policy's row minus its twin's).
MYOPIC_SUFFIX = "_g0"
MYOPIC_TWINS = tuple(f"{policy}{MYOPIC_SUFFIX}" for policy in RankingPolicy)
REPLAY_POLICIES = (*REPLAY_BASELINES, *RankingPolicy, *MYOPIC_TWINS)


class Bandit(StrEnum):
    """Policies of the CTR simulator (training.rl.ctr_bench)."""

    linucb = "linucb"
    thompson = "thompson"
    organic_count = "organic_count"
    best_fixed_arm = "best_fixed_arm"
    logistic = "logistic"
    popularity = "popularity"
    random = "random"
    oracle = "oracle"


class PolicyEnv(StrEnum):
    """Where a policy trains: the graph's interactions replayed against a version, sessions of a GAN user model
    trained on them, the CTR simulator, or a published reactive simulator (training.rl.sim.envs: SARDINE and
    RecSim interest evolution, each beside its static control)."""

    logreplay = "logreplay"
    gan = "gan"
    ctr = "ctr"
    sardine_topk_bored = "sardine-topk-bored"
    sardine_topk_static = "sardine-topk-static"
    sardine_rerank_bored = "sardine-rerank-bored"
    sardine_rerank_static = "sardine-rerank-static"
    recsim_ie = "recsim-ie"
    recsim_ie_frozen = "recsim-ie-frozen"


SIMULATORS = tuple(env for env in PolicyEnv if env not in ("logreplay", "gan", "ctr"))


class SimPolicy(StrEnum):
    """The RL policies the reactive simulators train (training.rl.sim.train)."""

    drr = "drr"
    ppo = "ppo"
    slateq = "slateq"
    kgdqn = "kgdqn"


assert {*ServedPolicy} == {"auto", "greedy", *BaselineRanker, *RankingPolicy}, "the service serves every ranker"
