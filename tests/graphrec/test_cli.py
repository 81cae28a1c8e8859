"""The command line end to end, in a temporary data directory, on each graph backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphrec.cli import app
from graphrec.settings import get_settings
from tests import fixtures

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str) -> Path:
    monkeypatch.setenv("GRAPHREC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GRAPHREC_LADYBUG_BUFFER_POOL_MB", "256")
    monkeypatch.setenv("GRAPHREC_GRAPH_BACKEND", backend)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_ingest_stats_candidates_explain_export(tmp_path: Path) -> None:
    out = invoke("ingest", "synthetic", "--users", "150", "--items", "100", "--interactions", "3000")
    assert "read 3,000 rows" in out and "rows/s" in out
    stats = json.loads(invoke("stats", "--json"))
    assert set(stats) == {"users", "items", "interactions", "events", "entities", "relations"}
    assert stats["interactions"] == stats["events"] == 3_000 and set(stats["entities"]) == {"Artist", "Genre", "Year"}
    assert "wrote 0" in invoke("ingest", "synthetic", "--users", "150", "--items", "100", "--interactions", "3000")
    found = json.loads(invoke("candidates", "--user", "3", "--limit", "5", "--json"))
    assert len(found) == 5 and {"item_id", "paths", "title"} <= set(found[0])
    paths = json.loads(invoke("explain", "--user", "3", "--item", str(found[0]["item_id"]), "--json"))
    assert paths and paths[0]["nodes"][0]["id"] == 3 and paths[0]["sentence"].startswith("You ")
    assert "You " in invoke("explain", "--user", "3", "--item", str(found[0]["item_id"]))
    assert "paths" in invoke("candidates", "--user", "3", "--source", "collab", "--hops", "1")
    assert "interactions 3,000" in invoke("export", "--out", str(tmp_path / "export"))
    assert (tmp_path / "export" / "edges.npz").is_file()


def test_bad_input_exits_with_a_named_line(tmp_path: Path) -> None:
    folder = fixtures.movielens_100k(tmp_path / "ml")
    (folder / "u.data").write_text("1\t1\t5\t881250949\n1\t2\n")
    result = runner.invoke(app, ["ingest", "movielens", "--path", str(folder)])
    assert result.exit_code == 2
    assert f"{folder / 'u.data'}:2" in result.output and "nothing was written" in result.output
    assert json.loads(invoke("stats", "--json"))["interactions"] == 0


def test_errors_are_clear() -> None:
    assert runner.invoke(app, ["ingest", "movielens"]).exit_code == 2
    unknown = runner.invoke(app, ["ingest", "nosuch", "--path", "."])
    assert unknown.exit_code == 2 and "'nosuch' is not one of" in unknown.output and "movielens" in unknown.output
    invoke("ingest", "synthetic", "--users", "20", "--items", "20", "--interactions", "100")
    result = runner.invoke(app, ["candidates", "--user", "abc"])
    assert result.exit_code == 2 and "integers" in result.output


def test_doctor_and_demo(backend: str) -> None:
    out = invoke("doctor")
    assert "ladybug" in out and "gpu" in out and f"graph ({backend})" in out
    assert "neo4j-rust-ext" in out and "not importable" not in out and "java" in out and "mvn" in out
    if backend == "neo4j":
        assert "(Neo4j 5." in out
    out = invoke("demo", "--epochs", "5")
    assert "KG candidates for user" in out and "Why item" in out and "- You " in out
    assert "published" in out and "Embedding (FAISS) recommendations" in out
    assert out.strip().splitlines()[-1].startswith("  5.")


def test_train_index_publish(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("ingest", "synthetic", "--users", "120", "--items", "90", "--interactions", "2500")
    monkeypatch.setenv("GRAPHREC_HOLDOUT_FRACTION", "0.2")  # the refresh's holdout rule holds for train too
    get_settings.cache_clear()
    out = invoke("train", "--model", "lightgcn", "--epochs", "10", "--dim", "16")
    version = out.strip().split()[3]
    folder = data_dir / "artifacts" / "versions" / version
    assert json.loads((folder / "manifest.json").read_text())["holdout"] == 0.2
    assert {"manifest.json", "item_embeddings.npy", "user_embeddings.npy", "weights.pt", "users.parquet",
            "items.parquet", "config.json", "metrics.json"} <= {p.name for p in folder.iterdir()}
    assert "flat over 90 items x 16" in invoke("index")
    assert f"published {version}" in invoke("publish")
    assert (data_dir / "artifacts" / "CURRENT").read_text().strip() == version
    result = runner.invoke(app, ["index", "--version", version])
    assert result.exit_code == 2 and "is published" in result.output
    (folder / "weights.pt").write_bytes(b"damaged")
    result = runner.invoke(app, ["publish", "--version", version])
    assert result.exit_code == 2 and "corrupt" in result.output


def test_evaluate_command(tmp_path: Path) -> None:
    invoke("ingest", "synthetic", "--users", "120", "--items", "90", "--interactions", "3000")
    out = invoke("evaluate", "--models", "popularity,ease", "--out", str(tmp_path / "eval"), "--dump-recs",
                 "--quick")
    assert "| ease |" in out and (tmp_path / "eval" / "recs_ease.csv").is_file()
    result = runner.invoke(app, ["evaluate", "--models", "nosuch", "--out", str(tmp_path / "e2")])
    assert result.exit_code == 2 and "unknown models" in result.output


def test_the_serving_banner_ends_with_the_console_url(capsys: pytest.CaptureFixture[str]) -> None:
    from graphrec.cli.service import _print_curl_examples

    _print_curl_examples("4", 12)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("The console") and last.endswith(":8000/?user=4")

