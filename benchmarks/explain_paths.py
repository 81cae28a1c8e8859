"""Explanations before and after a change: the paths GET /v1/explain answers for sampled (user, item) pairs, with
the admin key and with a client key of the history scope, written to a file; `--compare` then sets two such
files side by side.

The pairs are drawn with --seed from the graph of --data-dir (the same data gives the same pairs): in turn an item
of the user's graph candidates (knowledge-graph paths), an item of the user's history (the one-hop path) and an
item of the whole catalogue (collaborative paths, or none). Each run serves a fresh copy of the data folder with
its own Redis, so one code's run leaves nothing for the next. Run it once from each code's checkout, with that
checkout's Python, then compare:

    python -m benchmarks.explain_paths --data-dir var/ml100k --out after.json [--pairs 50 --seed 1]
    python -m benchmarks.explain_paths --compare before.json after.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.loadgen import ADMIN_HEADERS, CLIENT_HEADERS
from benchmarks.serving import Service, add_data_dir_option, copy_data_dir
from graphrec.graph.factory import open_store
from graphrec.graph.ids import plain_ids
from graphrec.serving.state.embedded_redis import EmbeddedRedis
from graphrec.settings import Settings

KEYS = {"admin": ADMIN_HEADERS, "history scope": CLIENT_HEADERS}


def sample_pairs(data_dir: Path, pairs: int, seed: int) -> list[tuple[Any, Any]]:
    """``pairs`` (user, item) pairs: a graph candidate, a history item and a catalogue item, in turn."""
    rng = random.Random(seed)
    with open_store(Settings.from_env(data_dir=data_dir).graph, read_only=True) as store:
        users = plain_ids(store.run("user_ids")["id"])
        items = plain_ids(store.run("node_ids", label="Item")["id"])
        found: list[tuple[Any, Any]] = []
        while len(found) < pairs:
            user = rng.choice(users)
            turn = len(found) % 3
            if turn == 0:
                options = plain_ids(store.candidates(user, limit=20)["item_id"])
            elif turn == 1:
                options = plain_ids(store.history(user, limit=50)["item_id"])
            else:
                options = items
            if options:
                found.append((user, rng.choice(sorted(options))))
    return found


async def answers(url: str, pairs: list[tuple[Any, Any]]) -> dict[str, list[dict]]:
    """Each key's answer (status and body) to GET /v1/explain?k=3 for every pair, in order."""
    found: dict[str, list[dict]] = {name: [] for name in KEYS}
    async with aiohttp.ClientSession() as session:
        for user, item in pairs:
            for name, headers in KEYS.items():
                async with session.get(f"{url}/v1/explain", params={"user_id": str(user), "item_id": str(item),
                                                                    "k": "3"}, headers=headers) as answer:
                    found[name].append({"status": answer.status, "body": await answer.json()})
    return found


async def run(args: argparse.Namespace) -> dict:
    pairs = sample_pairs(args.data_dir, args.pairs, args.seed)
    with tempfile.TemporaryDirectory() as work:
        data_dir = copy_data_dir(args.data_dir, Path(work))
        bench_redis = EmbeddedRedis(Path(work) / "redis").start()
        service = Service(data_dir, bench_redis.url, Path(work) / "service.log", warm=False)
        try:
            async with aiohttp.ClientSession() as session:
                await service.ready(session)
            found = await answers(service.url, pairs)
        finally:
            service.stop()
            bench_redis.stop()
    paths = {name: sum(len(answer["body"].get("paths", [])) for answer in answered)
             for name, answered in found.items()}
    print(f"{len(pairs)} pairs; paths answered: " + ", ".join(f"{name} {count}" for name, count in paths.items()))
    return {"pairs": [list(pair) for pair in pairs], "answers": found}


def compare(before_file: Path, after_file: Path) -> int:
    """Print where two runs' answers differ; the number of answers that differ."""
    before, after = (json.loads(Path(file).read_text()) for file in (before_file, after_file))
    if before["pairs"] != after["pairs"]:
        print("the runs asked about different pairs (another --data-dir, --pairs or --seed)")
        return -1
    differ = 0
    for name in KEYS:
        for pair, old, new in zip(before["pairs"], before["answers"][name], after["answers"][name], strict=True):
            if old != new:
                differ += 1
                print(f"{name} {pair}:\n  before {json.dumps(old)}\n  after  {json.dumps(new)}")
    kinds = [path["kind"] for answered in after["answers"].values() for answer in answered
             for path in answer["body"].get("paths", [])]
    print(f"{len(before['pairs'])} pairs x {len(KEYS)} keys: {differ} answers differ; the after run's paths: "
          + ", ".join(f"{kinds.count(kind)} {kind}" for kind in sorted(set(kinds))))
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_option(parser)
    parser.add_argument("--pairs", type=int, default=50, help="(user, item) pairs to ask about.")
    parser.add_argument("--seed", type=int, default=1, help="Draws the pairs.")
    parser.add_argument("--out", type=Path, help="Where the answers are written (JSON).")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                        help="Compare two runs' files instead of running.")
    args = parser.parse_args()
    if args.compare:
        raise SystemExit(1 if compare(*args.compare) else 0)
    found = asyncio.run(run(args))
    if args.out:
        args.out.write_text(json.dumps(found, indent=1))
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
