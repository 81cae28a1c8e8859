"""The settings model: one per process, built from the layers' sections, read from flat GRAPHREC_ variables, with a
reference (docs/settings.md, .env.example) that must match it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graphrec.settings import Settings, env_example, fields, reference_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_and_the_example_are_generated_from_the_model() -> None:
    assert (ROOT / "docs" / "settings.md").read_text() == reference_markdown(), (
        "docs/settings.md is stale: run `graphrec settings --markdown > docs/settings.md`")
    assert (ROOT / ".env.example").read_text() == env_example(), (
        ".env.example is stale: run `graphrec settings --env > .env.example`")


def test_every_setting_says_what_it_means() -> None:
    assert [name for name, (_, field) in fields().items() if not field.description] == []


def test_variables_reach_their_sections(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GRAPHREC_WARM_USERS=7\nGRAPHREC_HISTORY_LIMIT=30\n")
    settings = Settings.from_env({"GRAPHREC_DATA_DIR": str(tmp_path), "NEO4J_URI": "bolt://h:1",
                                  "GRAPHREC_RATING_RANGE": "[1, 10]", "GRAPHREC_HISTORY_LIMIT": "40",
                                  "GRAPHREC_HOLDOUT_FRACTION": "0.2"}, env_file=env_file)
    assert settings.graph.neo4j_uri == "bolt://h:1" and settings.graph.ladybug_path == tmp_path / "graph.lbdb"
    assert settings.serving.rating_range == (1.0, 10.0) and settings.training.holdout_fraction == 0.2
    assert settings.serving.warm_users == 7 and settings.serving.history_limit == 40  # the environment wins
    assert Settings(redis_url="redis://r:6379/0").serving.redis_url == "redis://r:6379/0"  # flat keyword too


def test_a_renamed_variable_still_works_with_a_warning_and_a_misspelt_one_is_named() -> None:
    with pytest.warns(FutureWarning, match="GRAPHREC_REDIS_RETRY_S is renamed GRAPHREC_DEPENDENCY_RETRY_S"):
        assert Settings.from_env({"GRAPHREC_REDIS_RETRY_S": "3"}, env_file=None).serving.dependency_retry_s == 3
    with pytest.warns(UserWarning, match="GRAPHREC_WARM_USER\\b"):
        Settings.from_env({"GRAPHREC_WARM_USER": "3"}, env_file=None)


def test_bad_values_name_the_field() -> None:
    with pytest.raises(ValueError, match="GRAPHREC_API_KEYS must be JSON"):
        Settings.from_env({"GRAPHREC_API_KEYS": "not json"}, env_file=None)
    with pytest.raises(ValueError, match="history_limit"):
        Settings.from_env({"GRAPHREC_HISTORY_LIMIT": "0"}, env_file=None)


def test_importing_the_settings_loads_no_torch() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, graphrec.settings; "
                           "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'faiss') if m in sys.modules))"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_command_line_starts_without_torch_faiss_pandas_or_the_service() -> None:
    """`graphrec --help` and every command import the command line first: the heavy libraries wait for the
    commands that need them."""
    done = subprocess.run([sys.executable, "-c", "import sys, graphrec.cli; print(sorted(m for m in ("
                           "'torch', 'torch_geometric', 'faiss', 'fastapi', 'graphrec.serving.app', 'numpy', "
                           "'pandas', 'pyarrow', 'limits', 'graphrec.graph.store') if m in sys.modules))"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_service_loads_no_torch() -> None:
    """The service ranks with numpy and FAISS: torch (seconds to import, hundreds of MB of mapped libraries) waits
    for a refresh or an RL policy that needs it."""
    done = subprocess.run([sys.executable, "-c", "import sys, graphrec.serving.app; print(sorted(m for m in ("
                           "'torch', 'torch_geometric', 'graphrec.training.pipeline') if m in sys.modules))"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
