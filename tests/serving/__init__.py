"""Tests of graphrec.serving."""
