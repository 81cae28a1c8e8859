"""Fuzz: schemathesis against a served copy of a data folder, every non-admin route, stateful links on.

One `graphrec serve` (LadybugDB, its own Redis server) with a client key that may recommend, send feedback (with
and without a slate) and read histories. Schemathesis runs its examples, coverage, fuzzing and stateful phases
(the stateful one follows the OpenAPI links from a slate to feedback on it and to the user's history) for
--minutes, checking that no answer is a server error. Printed: schemathesis' summary and the service's own count
of 5xx answers by route (its /metrics), which must be 0.

    python -m benchmarks.api_fuzz --data-dir var/ml100k [--minutes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import aiohttp

from benchmarks.loadgen import CLIENT_KEY
from benchmarks.serving import Service, add_data_dir_option, copy_data_dir
from graphrec.serving.state.embedded_redis import EmbeddedRedis

SERVER_ERRORS = re.compile(r'^graphrec_request_seconds_count\{.*route="([^"]+)".*status="(5\d\d)".*\} (\S+)$', re.M)


def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="fuzz-"))
    data_dir = copy_data_dir(args.data_dir, work)
    redis_server = EmbeddedRedis(work / "redis").start()
    service = Service(data_dir, redis_server.url, work / "service.log", warm=False)
    try:
        async def ready() -> None:
            async with aiohttp.ClientSession() as session:
                await service.ready(session)

        asyncio.run(ready())
        command = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{service.url}/openapi.json",
                   "--header", f"X-API-Key: {CLIENT_KEY}", "--exclude-path-regex", "^/v1/admin",
                   "--checks", "not_a_server_error", "--phases", "examples,coverage,fuzzing,stateful",
                   "--max-time", str(int(args.minutes * 60)), "--workers", "2", "--seed", str(args.seed),
                   "--suppress-health-check", "all", "--no-color"]
        print("$ " + " ".join(command).replace(CLIENT_KEY, "<client key>"), flush=True)
        finished = subprocess.run(command, capture_output=True, text=True, check=False, cwd=work)  # its cache too
        print("\n".join(finished.stdout.splitlines()[-40:]))
        with urllib.request.urlopen(f"{service.url}/metrics") as answer:
            metrics = answer.read().decode()
    finally:
        service.stop()
        redis_server.stop()
    errors = [(route, status, float(count)) for route, status, count in SERVER_ERRORS.findall(metrics)]
    total = int(sum(count for _, _, count in errors))
    print(f"\nschemathesis exit code {finished.returncode}; 5xx answers counted by the service: {total}"
          + (f" {errors}" if errors else "") + f"; log {work / 'service.log'}")
    return 0 if total == 0 and finished.returncode == 0 else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_option(parser)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--seed", type=int, default=1)
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
