"""Tests of graphrec.graph."""
