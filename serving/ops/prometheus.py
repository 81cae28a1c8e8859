"""Prometheus metrics of one app instance (its own registry, so tests can build several apps).

Rates and ratios are left to PromQL over the counters, which stay exact under concurrent requests and across
restarts; the candidate cache's hit rate over five minutes, for example:

    sum(rate(graphrec_candidate_cache_total{result="hit"}[5m]))
      / sum(rate(graphrec_candidate_cache_total{result=~"hit|miss"}[5m]))
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("graphrec_request_seconds", "Request latency by route and status.",
                                 ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.cache = Counter("graphrec_candidate_cache", "Candidate-set lookups by result (hit, miss, off).",
                             ["result"], registry=self.registry)
        self.candidates = Histogram("graphrec_candidates", "Candidates per recommendation, after seen items "
                                    "are removed.", buckets=(0, 10, 25, 50, 100, 200, 400, 800, 1600),
                                    registry=self.registry)
        self.degraded = Counter("graphrec_degraded_responses", "Answers served without a dependency.",
                                ["dependency"], registry=self.registry)
        self.feedback = Counter("graphrec_feedback_events", "Feedback events by type and outcome.",
                                ["event", "outcome"], registry=self.registry)
        self.artifact = Gauge("graphrec_artifact_version_info", "The artifact version being served (value 1).",
                              ["version"], registry=self.registry)
        self.rate_limited = Counter("graphrec_rate_limited_requests", "Requests refused (429) over a client's rate "
                                    "limit, by key name (or client address when open).", ["client"],
                                    registry=self.registry)
        self.up = Gauge("graphrec_dependency_up", "1 when the dependency answered its last call.",
                        ["dependency"], registry=self.registry)
        self.sources = Counter("graphrec_candidate_sources", "Candidates proposed per source (kg, faiss, popular, "
                               "collab), summed over recommendations.", ["source"], registry=self.registry)
        self.stream = Gauge("graphrec_feedback_stream_entries", "The feedback stream at the last scrape: its length, "
                            "entries not yet delivered to the graph writer (lag), delivered but not acknowledged "
                            "(pending), and dead letters.", ["state"], registry=self.registry)
        self.refresh_runs = Counter("graphrec_refresh_runs", "Refresh jobs started by this replica.",
                                    registry=self.registry)
        self.refresh_running = Gauge("graphrec_refresh_running", "1 while this replica's refresh job runs.",
                                     registry=self.registry)
        self.refresh_exit = Gauge("graphrec_refresh_last_exit_code", "Exit code of this replica's last refresh job "
                                  "(-1 before one has ended; 0 is success).", registry=self.registry)
        self.refresh_exit.set(-1)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, found once (labels() takes a lock and checks its arguments on every call,
        a cost a cached answer pays several times)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def record_cache(self, result: str) -> None:
        self.child(self.cache, result).inc()

    def serving(self, version: str | None) -> None:
        self.artifact.clear()
        if version:
            self.artifact.labels(version).set(1)

    def record_sources(self, counts: dict[str, int]) -> None:
        for source, count in counts.items():
            self.child(self.sources, source).inc(count)

    def observe_stream(self, figures: dict[str, int]) -> None:
        for state, value in figures.items():
            self.stream.labels(state).set(value)

    def observe_refresh(self, running: bool, exit_code: int | None) -> None:
        self.refresh_running.set(1 if running else 0)
        if exit_code is not None:
            self.refresh_exit.set(exit_code)
