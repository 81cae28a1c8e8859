"""Feedback from the API to the graph: the intake of events, their stream in Redis, the writer that folds them into
the graph, and the repair of counts."""
