"""Tests of graphrec.training."""
