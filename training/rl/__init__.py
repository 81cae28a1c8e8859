"""Reinforcement learning for recommendation: user simulators (gymnasium environments) and policies."""
