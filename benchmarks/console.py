"""The console's speed on loopback: the page's first load in headless Chromium and the API round trips it makes.

    python -m benchmarks.console --data-dir var/ml100k [--loads 30] [--requests 200]

`graphrec serve` runs on the data folder (a graph and a published version: `make run` builds one) with the
embedded Redis. First load: a fresh browser context per load (nothing cached), from navigation start to the load
event (the page, its script and stylesheet), median and p95. Round trips, one at a time over random known users:
POST /v1/recommend with explain=true (the slate with reasons for its top items) and the User view's two calls
for one item (recommend, then GET /v1/explain of its first item), median and p99.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from benchmarks.loadgen import CLIENT_HEADERS, free_port, keys_env

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def start(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "GRAPHREC_DATA_DIR": str(data_dir), **keys_env(), "GRAPHREC_WARM_USERS": "0"}
    env.pop("REDIS_URL", None)  # the embedded Redis, as `make run` serves
    process = subprocess.Popen([sys.executable, "-m", "graphrec", "serve", "--port", str(port), "--log-level",
                                "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise SystemExit("the service was not ready in 300 s")


def page_loads(url: str, loads: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no Chromium: install Debian's chromium package (.ci/system-deps)")
    timings = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        browser.new_page().goto(url)  # the browser's own start-up is not the page's
        for _ in range(loads):
            context = browser.new_context()
            page = context.new_page()
            page.goto(url, wait_until="load")
            timings.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
            context.close()
        browser.close()
    return timings


def round_trips(url: str, users: list, requests: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"recommend with explain": [], "recommend then explain": []}
    with httpx.Client(base_url=url, headers=CLIENT_HEADERS, timeout=30) as client:
        for user in users[:20]:  # candidates cached, as for a user the console shows again
            client.post("/v1/recommend", json={"user_id": user, "k": 10}).raise_for_status()
        for _ in range(requests):
            user = random.choice(users[:20])
            started = time.perf_counter()
            client.post("/v1/recommend", json={"user_id": user, "k": 10, "explain": True}).raise_for_status()
            timings["recommend with explain"].append((time.perf_counter() - started) * 1_000)
            started = time.perf_counter()
            slate = client.post("/v1/recommend", json={"user_id": user, "k": 10}).json()
            client.get("/v1/explain", params={"user_id": user, "item_id": slate["items"][0]["item_id"]}
                       ).raise_for_status()
            timings["recommend then explain"].append((time.perf_counter() - started) * 1_000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--loads", type=int, default=30)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    random.seed(0)
    print(f"# console benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, data {args.data_dir}")
    process, url = start(args.data_dir)
    try:
        users = httpx.get(f"{url}/v1/users", params={"prefix": "1", "limit": 50},
                          headers=CLIENT_HEADERS).json()["users"]
        loads = page_loads(url, args.loads)
        print(f"first load ({len(loads)} fresh contexts): median {np.median(loads):.1f} ms, "
              f"p95 {np.percentile(loads, 95):.1f} ms")
        for name, values in round_trips(url, users, args.requests).items():
            print(f"{name} ({len(values)} requests, one at a time): median {np.median(values):.1f} ms, "
                  f"p99 {np.percentile(values, 99):.1f} ms")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
