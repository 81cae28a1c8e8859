"""Recommenders trained and compared in one harness: baselines and PyTorch Geometric encoders."""
