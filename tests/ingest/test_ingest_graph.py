"""Loading into the real graph store: counts, idempotence, increments, bad input, id types."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from graphrec.graph.factory import open_store
from graphrec.graph.labels import ITEM, USER
from graphrec.graph.neo4j_ingest import PlanWriter, fresh_interactions
from graphrec.graph.store import GraphError, GraphStore, GraphUnavailable
from graphrec.ingest import generic, movielens
from graphrec.ingest.errors import IngestError
from graphrec.ingest.frames import Dataset, make_dataset
from graphrec.ingest.loader import ingest
from graphrec.ingest.upsert import plan_upsert
from tests import fixtures
from tests.conftest import make_settings, wipe_neo4j
from tests.neo4j_server import Neo4jServer


def test_synthetic_load_counts(store: GraphStore, small_dataset: Dataset) -> None:
    report = ingest(store, lambda: small_dataset)
    stats = store.stats()
    assert stats["users"] == small_dataset.interactions["user_id"].nunique()
    assert stats["items"] == len(small_dataset.items)
    assert stats["interactions"] == stats["events"] == 2_500
    assert stats["entities"]["Genre"] == small_dataset.triples.query("tail_kind == 'Genre'")["tail"].nunique()
    assert stats["relations"]["INTERACTED"] == 2_500
    assert sum(n for r, n in stats["relations"].items() if r != "INTERACTED") == len(small_dataset.triples)
    assert report.rows_read == 2_500 and report.rows_rejected == 0 and report.rows_per_second > 0


def test_reingest_changes_nothing(store: GraphStore, small_dataset: Dataset) -> None:
    ingest(store, lambda: small_dataset)
    before = store.stats()
    again = ingest(store, lambda: small_dataset)
    assert again.rows_written == 0
    assert store.stats() == before


def test_increment_adds_and_updates_without_duplicates(store: GraphStore, tmp_path: Path) -> None:
    ingest(store, lambda: generic.read(fixtures.generic(tmp_path / "a")))
    fixtures.write(tmp_path / "b" / "interactions.csv",
                   "user_id,item_id,rating,behavior,timestamp\nu1,i1,2,rating,20\nu3,i2,4,rating,21\n")
    report = ingest(store, lambda: generic.read(tmp_path / "b"))
    assert report.written["interactions"] == 1 and report.written["interaction_updates"] == 1
    stats = store.stats()
    assert stats["users"] == 3 and stats["interactions"] == 4
    history = store.history("u1").set_index("item_id")
    assert history.loc["i1", "rating"] == 2.0 and history.loc["i1", "last_ts"] == 20
    assert history.loc["i2", "behavior"] == "click"  # untouched rows stay


def test_text_ids_stay_text_and_types_cannot_mix(store: GraphStore, tmp_path: Path) -> None:
    ingest(store, lambda: generic.read(fixtures.generic(tmp_path / "g")))
    assert store.coerce_id("u1", "user") == "u1"
    assert set(store.history("u1")["item_id"]) == {"i1", "i2"}
    # Integer ids into a graph of text ids are stored as text; the reverse is refused.
    ints = make_dataset("ints", pd.DataFrame({"user_id": [7], "item_id": [8]}))
    ingest(store, lambda: ints)
    assert set(store.history("7")["item_id"]) == {"8"}


def test_text_ids_refused_by_integer_graph(store: GraphStore, tmp_path: Path) -> None:
    ingest(store, lambda: make_dataset("ints", pd.DataFrame({"user_id": [1], "item_id": [2]})))
    with pytest.raises(GraphError, match="integer user ids"):
        plan_upsert(store, make_dataset("text", pd.DataFrame({"user_id": ["a"], "item_id": [2]})))


@pytest.mark.parametrize(("line", "reason", "field"), [
    ("9\t1\t5\n", "expected 4 fields", "<row>"),
    ("9\t1\tgreat\t881250999\n", "not a number", "rating"),
])
def test_bad_row_names_file_and_line_and_writes_nothing(store: GraphStore, tmp_path: Path, line: str,
                                                         reason: str, field: str) -> None:
    ingest(store, lambda: generic.read(fixtures.generic(tmp_path / "g")))
    before = store.stats()
    folder = fixtures.movielens_100k(tmp_path / "ml")
    with (folder / "u.data").open("a") as handle:
        handle.write(line)
    with pytest.raises(IngestError) as raised:
        ingest(store, lambda: movielens.read(folder))
    message = str(raised.value)
    assert f"{folder / 'u.data'}:6: field '{field}'" in message and reason in message
    assert "nothing was written" in message
    assert store.stats() == before


def test_unknown_behaviour_refused(store: GraphStore, tmp_path: Path) -> None:
    fixtures.write(tmp_path / "interactions.csv", "user_id,item_id,behavior\n1,2,click\n1,3,teleport\n")
    with pytest.raises(IngestError, match=r"interactions.csv:3: field 'behavior': unknown behaviour teleport"):
        ingest(store, lambda: generic.read(tmp_path))
    assert store.stats()["interactions"] == 0


def test_reingesting_the_source_after_feedback_keeps_the_feedback(store: GraphStore, tmp_path: Path) -> None:
    source = fixtures.generic(tmp_path / "g")  # u1 clicked i2 at t=11
    ingest(store, lambda: generic.read(source))
    click = {"user_id": "u1", "item_id": "i2", "behavior": "click", "rating": None, "count": 1, "last_ts": 500}
    rating = {"user_id": "u2", "item_id": "i1", "behavior": "rating", "rating": 5.0, "count": 1, "last_ts": 501}
    store.run("record_feedback", {"rows": [click, rating], "applied_key": "feedback_applied/test",
                                  "applied_id": "1"}, write=True)

    def stored(user: str, item: str, behavior: str) -> tuple[int, int, float | None]:
        frame = store.interactions()
        row = frame[(frame["user_id"] == user) & (frame["item_id"] == item) & (frame["behavior"] == behavior)]
        rating = row["rating"].iloc[0]
        return int(row["count"].iloc[0]), int(row["last_ts"].iloc[0]), None if pd.isna(rating) else float(rating)

    after_feedback = (stored("u1", "i2", "click"), stored("u2", "i1", "rating"))
    assert after_feedback == ((2, 500, None), (2, 501, 5.0))
    report = ingest(store, lambda: generic.read(source))  # the original files again
    assert (stored("u1", "i2", "click"), stored("u2", "i1", "rating")) == after_feedback
    assert report.rows_written == 0  # nothing in the source is newer than the graph
    fixtures.write(source / "interactions.csv", "user_id,item_id,rating,behavior,timestamp\nu1,i2,,click,900\n")
    ingest(store, lambda: generic.read(source))  # a newer source row still moves the time forward
    assert stored("u1", "i2", "click") == (2, 900, None)


@pytest.mark.parametrize("row", ["i1,HAS_X,x,ITEM", "i1,HAS_X,x,USER", "i1,ORDER,x,Thing"])
def test_a_reserved_kind_or_relation_is_refused_before_anything_is_written(store: GraphStore, tmp_path: Path,
                                                                          row: str) -> None:
    folder = fixtures.generic(tmp_path / "g")
    fixtures.write(folder / "triples.csv", f"head,relation,tail,tail_kind\ni2,genre,Jazz,\n{row}\n")
    with pytest.raises(IngestError, match=r"triples.csv:3: field '(tail_kind|relation)': .* (is a name of the graph "
                                          r"model|is a Cypher keyword)"):
        ingest(store, lambda: generic.read(folder))
    assert store.stats()["interactions"] == 0 and store.stats()["entities"] == {}


def test_knowledge_graph_rows_of_unknown_items_are_skipped_and_reported(store: GraphStore, tmp_path: Path) -> None:
    report = ingest(store, lambda: generic.read(fixtures.generic(tmp_path / "g")))  # i3 has only a triple
    assert report.unknown_item_rows == 1 and "skipped 1 knowledge-graph rows" in report.summary()
    assert store.stats()["items"] == 2


def test_skip_bad_writes_good_rows_and_a_reject_file(store: GraphStore, tmp_path: Path) -> None:
    folder = fixtures.movielens_100k(tmp_path / "ml")
    with (folder / "u.data").open("a") as handle:
        handle.write("9\t1\tgreat\t881250999\n4\t3\t5\t881250999\n")
    report = ingest(store, lambda: movielens.read(folder), skip_bad=True, rejects_dir=tmp_path / "rejects")
    assert report.rows_rejected == 1 and store.stats()["interactions"] == 6
    rejects = pd.read_csv(report.reject_file)
    assert rejects[["line", "field"]].values.tolist() == [[6, "rating"]]
    assert rejects["text"].iloc[0] == "9\t1\tgreat\t881250999"


class FailingProgress:
    """A progress bar that runs ``when_reached`` once the write has passed ``rows`` rows: a failure mid-write."""

    def __init__(self, rows: int, when_reached: Callable[[], None]) -> None:
        self.rows, self.when_reached, self.done = rows, when_reached, 0

    def __call__(self, *args: object, **kwargs: object) -> FailingProgress:
        return self

    def __enter__(self) -> FailingProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        self.done += n
        if self.done >= self.rows:
            self.when_reached()


def disk_full() -> None:
    raise RuntimeError("disk full")


def test_failed_write_rolls_back(store: GraphStore, small_dataset: Dataset, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ingest(store, lambda: generic.read(fixtures.generic(tmp_path / "g")))
    before = store.stats()
    monkeypatch.setattr("graphrec.ingest.loader.tqdm", FailingProgress(2_000, disk_full))
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(store, lambda: small_dataset)
    monkeypatch.undo()
    assert store.stats() == before
    ingest(store, lambda: small_dataset)  # and the same input then loads cleanly
    assert store.stats()["interactions"] == 2_500 + before["interactions"]


@pytest.mark.neo4j
def test_neo4j_stopped_mid_ingest_leaves_nothing_and_the_rerun_completes(
        neo4j_process: Neo4jServer, small_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wipe_neo4j()
    settings = make_settings(tmp_path, "neo4j", neo4j_batch_size=250)
    with open_store(settings.graph) as store:
        ingest(store, lambda: generic.read(fixtures.generic(tmp_path / "g")))
        before = store.stats()
        monkeypatch.setattr("graphrec.ingest.loader.tqdm", FailingProgress(1_000, neo4j_process.kill))
        with pytest.raises(GraphUnavailable):
            ingest(store, lambda: small_dataset)
    monkeypatch.undo()
    neo4j_process.start()
    with open_store(settings.graph) as store:
        assert store.stats() == before
        report = ingest(store, lambda: small_dataset)
        assert report.rows_written > 2_500 and store.stats()["interactions"] == 2_500 + before["interactions"]


def test_a_user_added_between_plan_and_write_fails_the_ingest_whole(store: GraphStore, tmp_path: Path) -> None:
    """The feedback writer may add a user the ingest planned as new: the ingest fails and writes nothing, the
    feedback stays, and the re-run (planned again) counts that user's relationship once."""
    ingest(store, lambda: generic.read(fixtures.generic(tmp_path / "a")))
    fixtures.write(tmp_path / "b" / "interactions.csv",
                   "user_id,item_id,rating,behavior,timestamp\nu9,i1,4,click,30\nu9,i2,3,rating,31\n")
    plan = plan_upsert(store, generic.read(tmp_path / "b"))
    assert plan.users["id"].tolist() == ["u9"]
    feedback = {"user_id": "u9", "item_id": "i1", "behavior": "click", "rating": None, "count": 1, "last_ts": 29}
    store.run("record_feedback", {"rows": [feedback], "applied_key": "feedback_applied/test", "applied_id": "1"},
              write=True)
    before = store.stats()
    with pytest.raises(GraphError):
        store.write(plan, FailingProgress(10**9, disk_full))
    assert store.stats() == before
    report = ingest(store, lambda: generic.read(tmp_path / "b"))
    assert report.written["users"] == 0 and report.written["interactions"] == 1
    history = store.history("u9").set_index("item_id")
    assert len(history) == 2 and history.loc["i1", "last_ts"] == 30


@pytest.mark.neo4j
def test_a_second_neo4j_ingest_during_one_fails_naming_it_and_the_first_completes(
        neo4j_server: Neo4jServer, small_dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staging is cleared by the next ingest, so two ingests into one graph must not overlap: the ingest lock makes
    the second fail with a message instead of clearing the first one's staged rows."""
    wipe_neo4j()
    settings = make_settings(tmp_path, "neo4j", neo4j_query_timeout_s=1)
    refusals: list[str] = []

    def second_ingest() -> None:
        if refusals:
            return
        with open_store(settings.graph) as other, pytest.raises(GraphError, match="another ingest") as refused:
            ingest(other, lambda: generic.read(fixtures.generic(tmp_path / "g")))
        refusals.append(str(refused.value))

    with open_store(settings.graph) as store:
        monkeypatch.setattr("graphrec.ingest.loader.tqdm", FailingProgress(1_000, second_ingest))
        ingest(store, lambda: small_dataset)
        monkeypatch.undo()
        assert len(refusals) == 1
        assert store.stats()["interactions"] == 2_500


@pytest.mark.neo4j
def test_staged_rows_stay_invisible_to_every_read_until_the_publish(neo4j_server: Neo4jServer, tmp_path: Path) -> None:
    """A new user and a new item with interactions to stored ones: staged, nothing of them shows in history,
    candidates, stats or export; published, all of it does."""
    wipe_neo4j()
    with open_store(make_settings(tmp_path, "neo4j").graph) as store:
        ingest(store, lambda: generic.read(fixtures.generic(tmp_path / "a")))
        fixtures.write(tmp_path / "b" / "interactions.csv", "user_id,item_id,rating,behavior,timestamp\n"
                       "u1,i9,5,rating,40\nu9,i1,4,rating,41\nu9,i9,5,rating,42\n")
        fixtures.write(tmp_path / "b" / "items.csv", "item_id,title\ni9,Flamenco Sketches\n")
        plan = plan_upsert(store, generic.read(tmp_path / "b"))
        before = store.stats(), store.history("u1"), store.candidates("u2"), store.interactions()
        writer = PlanWriter(store._driver, store._database, 10_000, FailingProgress(10**9, disk_full),  # type: ignore[attr-defined]
                            lock_wait_s=1)
        staged = {USER: writer.stage_nodes(USER, plan.users), ITEM: writer.stage_nodes(ITEM, plan.items)}
        fresh = fresh_interactions(plan)
        writer.stage_interactions(plan.interactions[fresh], staged)
        now = store.stats(), store.history("u1"), store.candidates("u2"), store.interactions()
        assert now[0] == before[0]
        for was, staged_frame in zip(before[1:], now[1:], strict=True):
            pd.testing.assert_frame_equal(was, staged_frame)
        writer.publish(plan, plan.interactions[~fresh], {label: len(refs) for label, refs in staged.items()})
        assert store.stats()["interactions"] == before[0]["interactions"] + 3
        assert "i9" in store.history("u1")["item_id"].tolist()
        assert store.history("u9")["item_id"].tolist() == ["i9", "i1"]
