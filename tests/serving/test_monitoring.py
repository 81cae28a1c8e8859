"""The operators' side: the Grafana dashboard asks only for metrics a running service exports, the Prometheus
config passes promtool, and the compose `monitoring` profile provisions both. Grafana itself cannot run here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.serving.conftest import Stack, client_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "monitoring" / "grafana" / "dashboards" / "graphrec.json"
PROMETHEUS = ROOT / "monitoring" / "prometheus" / "prometheus.yml"
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def dashboard_metrics() -> set[str]:
    exprs = [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for target in panel["targets"]]
    assert exprs
    return {name for expr in exprs for name in re.findall(r"\b(graphrec_[a-z_]+)", expr)}


def test_every_metric_the_dashboard_asks_for_is_exported(data_dir: Path) -> None:
    with client_for(data_dir, Stack("embedded")) as client:
        shown = client.post("/v1/recommend", json={"user_id": 4, "k": 5, "session_id": "m"}).json()
        client.post("/v1/feedback", json={"session_id": "m", "user_id": 4, "item_id": shown["items"][0]["item_id"],
                                          "event": "click", "slate_id": shown["slate_id"]})
        client.get("/readyz")  # the platform's probes: they set the dependency gauges
        text = client.get("/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {sample.name for family in families.values() for sample in family.samples}
    missing = sorted(name for name in dashboard_metrics() if name not in samples and not any(
        name.endswith(suffix) and name.removesuffix(suffix) in families for suffix in SUFFIXES))
    assert not missing, f"the dashboard asks for metrics the service does not export: {missing}"
    # The gauges read at the scrape hold figures: the stream has the click, the served version is named.
    stream = {s.labels["state"]: s.value for s in families["graphrec_feedback_stream_entries"].samples}
    assert stream["length"] >= 1 and set(stream) == {"length", "lag", "pending", "dead_letters"}
    sources = {s.labels["source"] for s in families["graphrec_candidate_sources"].samples if s.value > 0}
    assert sources and sources <= {"kg", "faiss", "popular", "collab"}
    served = [s.labels["version"] for s in families["graphrec_artifact_version_info"].samples]
    assert served == [shown["artifact_version"]]


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="no promtool on this machine (.ci/system-deps installs Debian's prometheus package)")
def test_the_prometheus_config_passes_promtool() -> None:
    done = subprocess.run(["promtool", "check", "config", str(PROMETHEUS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_monitoring_profile_provisions_prometheus_and_grafana() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), volume
    scrape = yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"][0]
    assert scrape["static_configs"][0]["targets"] == ["api:8000"] and scrape["metrics_path"] == "/metrics"
    provisioning = ROOT / "monitoring" / "grafana" / "provisioning"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert {panel["datasource"]["uid"] for panel in panels} == {source["uid"]}
    provider = yaml.safe_load((provisioning / "dashboards" / "graphrec.yml").read_text())["providers"][0]
    mounts = {volume.split(":")[1] for volume in services["grafana"]["volumes"]}
    assert provider["options"]["path"] in mounts
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
