"""Published reference numbers (../shared/MISSION.md), shown beside ours in every results table."""

from __future__ import annotations

# Microsoft Recommenders MovieLens-100K benchmark: stratified 75/25 split, seed 42, k = 10.
MS_MOVIELENS_100K: dict[str, dict[str, float]] = {
    "BiVAE": {"ndcg@10": 0.4751, "precision@10": 0.4118, "recall@10": 0.2191, "map": 0.1461},
    "BPR": {"ndcg@10": 0.4420, "precision@10": 0.3882, "recall@10": 0.2125, "map": 0.1325},
    "LightGCN": {"ndcg@10": 0.4176, "precision@10": 0.3610, "recall@10": 0.1961, "map": 0.1216},
    "NCF": {"ndcg@10": 0.3988, "precision@10": 0.3497, "recall@10": 0.1816, "map": 0.1086},
    "SAR": {"ndcg@10": 0.3883, "precision@10": 0.3338, "recall@10": 0.1832, "map": 0.1130},
}

# RecBole-GNN on MovieLens-1M (ratings >= 3, random 8:1:1 per user, full ranking): NDCG@10.
RECBOLE_MOVIELENS_1M: dict[str, dict[str, float]] = {
    "XSimGCL": {"ndcg@10": 0.2750}, "NCL": {"ndcg@10": 0.2702}, "LightGCN": {"ndcg@10": 0.2538},
    "BPR": {"ndcg@10": 0.2401},
}


def anchors_for(protocol: str, dataset: str) -> dict[str, dict[str, float]]:
    """The anchor rows comparable with this protocol and dataset (none when nothing published matches)."""
    name = dataset.lower()
    if protocol == "ms" and ("100k" in name or "ml-100k" in name):
        return MS_MOVIELENS_100K
    if protocol == "recbole" and ("1m" in name or "ml-1m" in name):
        return RECBOLE_MOVIELENS_1M
    return {}
