"""What answers a recommendation: the served version and policy, the user's history, candidates, ranking and
explanations, composed by RecommendationService (recommender.py)."""
