"""Tests of graphrec.training.rl."""
