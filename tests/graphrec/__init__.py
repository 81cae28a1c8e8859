"""Tests of graphrec's command line."""
