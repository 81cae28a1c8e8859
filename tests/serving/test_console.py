"""The console in a real browser: Debian's Chromium driven by Playwright against `graphrec serve` on loopback.

The service holds a version with a PPO checkpoint beside greedy, a client key (recommend, feedback, history) and
the admin key. Screenshots go to var/test-artifacts/console/ (1280 and 390 px wide).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="Playwright is a dev dependency (pip install -e '.[dev]')")
from playwright.sync_api import expect

from graphrec.ingest.frames import Dataset
from graphrec.serving.access.keys import Scope, new_key
from graphrec.training.artifacts import ArtifactVersion, publish, version_folder
from tests.api_stack import API_KEY, copy_data_dir, start_service

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "console"
APP_KEY, APP_ENTRY = new_key("console", {Scope.recommend, Scope.feedback, Scope.history})
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

SIMULATED = ("drr", "slateq", "kgdqn")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/system-deps installs "
                                                           "Debian's chromium package)")


@pytest.fixture(scope="module")
def service(built: Path, tmp_path_factory: pytest.TempPathFactory, small_dataset: Dataset) -> Iterator[str]:
    from graphrec.training.rl.train_for_version import train_policy_for_version

    data_dir = copy_data_dir(built, tmp_path_factory.mktemp("console") / "var")
    root = data_dir / "artifacts"
    from graphrec.training.rl.sim.checkpoints import record_name, train_simulator_checkpoint
    from graphrec.training.rl.train_for_version import add_checkpoints

    derived, _ = train_policy_for_version(version_folder(root), small_dataset.interactions, small_dataset.triples,
                                          "ppo", overrides={"iterations": 1})
    # a few steps of the other methods in a simulator: their records join the version (their checkpoints do not)
    for method in SIMULATED:
        _, record = train_simulator_checkpoint("recsim-ie", method, 0, {"batch_size": 16}, 64, 3,
                                               data_dir / "simulators")
        derived = add_checkpoints(derived, {record_name(method, "recsim-ie"): (None, record)}, method)
    publish(root, derived.name)
    env = {**os.environ, "GRAPHREC_DATA_DIR": str(data_dir), "GRAPHREC_API_KEY": API_KEY,
           "GRAPHREC_API_KEYS": json.dumps([APP_ENTRY.model_dump(mode="json")]), "GRAPHREC_WARM_USERS": "0",
           "GRAPHREC_POLICY": "greedy"}
    process, url = start_service(env)
    assert ArtifactVersion(derived).checkpoint("ppo").is_file()
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright  # imported here: a machine without the dev extras skips

    with sync_playwright() as playwright:
        opened = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield opened
        opened.close()


@pytest.fixture
def page(browser: object, service: str) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    problems: list[str] = []  # script errors and Content-Security-Policy refusals; a refused API call is expected
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error"
              and "Failed to load resource" not in message.text else None)
    opened.goto(service)
    yield opened
    context.close()
    assert not problems, problems


def use_key(page: object, key: str) -> None:
    page.fill("#api-key", key)  # type: ignore[attr-defined]
    page.click("#key-form button")  # type: ignore[attr-defined]


def slate_ids(page: object, selector: str = "#slate li") -> list[str]:
    return page.eval_on_selector_all(selector, "items => items.map(i => i.dataset.item)")  # type: ignore[attr-defined]


def shoot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)  # type: ignore[attr-defined]
        assert no_horizontal_scroll(page), (name, width)
    page.set_viewport_size({"width": 1280, "height": 900})  # type: ignore[attr-defined]


def no_horizontal_scroll(page: object) -> bool:
    return page.evaluate(  # type: ignore[attr-defined]
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_the_first_screen_shows_the_catalogue_the_served_policy_and_users_to_open(page: object) -> None:
    use_key(page, APP_KEY)
    expect(page.locator("#overview-users a")).not_to_have_count(0)  # type: ignore[attr-defined]
    figures = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#overview-figures div",
        "cards => cards.map(c => [c.querySelector('dt').textContent, c.querySelector('dd').textContent])")
    names = [name for name, _ in figures]
    assert names[:3] == ["users", "items", "interactions"] and len(names) > 3  # and the entity kinds
    assert all(value.replace(",", "").isdigit() and value != "0" for _, value in figures[:3])
    assert page.text_content("#overview-served").startswith("greedy · version ")  # type: ignore[attr-defined]
    shoot(page, "overview")
    page.click("#overview-users li:first-child a")  # type: ignore[attr-defined]
    expect(page.locator("#slate li")).to_have_count(10)  # type: ignore[attr-defined]
    assert page.is_hidden("#overview")  # type: ignore[attr-defined]


def test_find_a_user_see_why_and_like_an_item(page: object) -> None:
    use_key(page, APP_KEY)
    page.fill("#user-id", "4")  # type: ignore[attr-defined]
    expect(page.locator("#user-suggestions option")).not_to_have_count(0)  # type: ignore[attr-defined]
    page.click("#user-form button")  # type: ignore[attr-defined]
    expect(page.locator("#slate li")).to_have_count(10)  # type: ignore[attr-defined]
    titles = page.eval_on_selector_all("#slate .title", "nodes => nodes.map(n => n.textContent)")  # type: ignore[attr-defined]
    assert len(titles) == 10 and all(titles)
    assert page.text_content("#slate-meta").startswith("greedy")  # type: ignore[attr-defined]
    # The history table is filled after the slate (showUser awaits it next): wait for its rows.
    expect(page.locator("#history tbody tr")).not_to_have_count(0)  # type: ignore[attr-defined]
    shoot(page, "main")
    # The explanation: paths drawn as a graph, with their sentences.
    page.click("#slate li:first-child >> text=Why")  # type: ignore[attr-defined]
    page.wait_for_selector("#paths g.node")  # type: ignore[attr-defined]
    assert page.locator("#paths g.node").count() >= 2 and page.locator("#paths line.edge").count() >= 1  # type: ignore[attr-defined]
    assert page.locator("#sentences li").count() >= 1  # type: ignore[attr-defined]
    shoot(page, "explanation")
    # Like the first item: it joins the history and the next slate differs.
    before = slate_ids(page)
    liked = before[0]
    page.click("#slate li:first-child >> text=Like")  # type: ignore[attr-defined]
    expect(page.locator(f"#slate li[data-item='{liked}']")).to_have_count(0)  # type: ignore[attr-defined]
    page.wait_for_selector(f"#history tbody tr[data-item='{liked}']")  # type: ignore[attr-defined]
    after = slate_ids(page)
    assert after != before and liked not in after
    assert page.locator("#slate li.fresh").count() >= 1  # type: ignore[attr-defined]


def test_the_keyboard_alone_finds_a_user_and_likes_an_item(page: object) -> None:
    use_key(page, APP_KEY)
    for _ in range(30):  # Tab to the user field
        if page.evaluate("document.activeElement.id") == "user-id":  # type: ignore[attr-defined]
            break
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
    assert page.evaluate("document.activeElement.id") == "user-id"  # type: ignore[attr-defined]
    page.keyboard.type("7")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    expect(page.locator("#slate li")).to_have_count(10)  # type: ignore[attr-defined]
    before = slate_ids(page)
    for _ in range(40):  # on to the first Like button
        if page.evaluate("document.activeElement.textContent") == "Like":  # type: ignore[attr-defined]
            break
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
    assert page.evaluate("document.activeElement.closest('li').dataset.item") == before[0]  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    expect(page.locator(f"#slate li[data-item='{before[0]}']")).to_have_count(0)  # type: ignore[attr-defined]
    assert slate_ids(page) != before


def test_compare_two_policies_side_by_side(page: object) -> None:
    use_key(page, APP_KEY)
    page.click("#tab-compare")  # type: ignore[attr-defined]
    expect(page.locator("#policy-b option")).to_have_count(4)  # type: ignore[attr-defined]
    page.fill("#compare-user", "4")  # type: ignore[attr-defined]
    page.select_option("#policy-a", "greedy")  # type: ignore[attr-defined]
    page.select_option("#policy-b", "ppo")  # type: ignore[attr-defined]
    page.click("#compare-form button")  # type: ignore[attr-defined]
    # the first slate of an RL policy loads torch and traces the policy: seconds on a busy machine
    expect(page.locator("#compare-b li")).to_have_count(10, timeout=60_000)  # type: ignore[attr-defined]
    left, right = slate_ids(page, "#compare-a li"), slate_ids(page, "#compare-b li")
    assert page.text_content("#compare-a-title") == "greedy" and page.text_content("#compare-b-title") == "ppo"  # type: ignore[attr-defined]
    shared = set(left) & set(right)
    assert page.locator("#compare-b li.shared").count() == len(shared)  # type: ignore[attr-defined]
    assert page.text_content("#compare-meta").startswith(f"{len(shared)} of 10")  # type: ignore[attr-defined]


def test_a_cold_start_session_recommends_from_picked_items(page: object) -> None:
    use_key(page, APP_KEY)
    page.click("#tab-cold")  # type: ignore[attr-defined]
    page.fill("#item-text", "item 1")  # type: ignore[attr-defined]
    page.click("#item-form button")  # type: ignore[attr-defined]
    page.wait_for_selector("#found-items li button")  # type: ignore[attr-defined]
    buttons = page.locator("#found-items li button")  # type: ignore[attr-defined]
    buttons.nth(0).click()
    buttons.nth(1).click()
    assert page.locator("#picked li").count() == 2  # type: ignore[attr-defined]
    page.click("#cold-recommend")  # type: ignore[attr-defined]
    expect(page.locator("#cold-slate li")).to_have_count(10)  # type: ignore[attr-defined]


def test_the_operations_view_needs_the_admin_key(page: object) -> None:
    use_key(page, APP_KEY)
    page.click("#tab-ops")  # type: ignore[attr-defined]
    page.wait_for_selector("#error:not([hidden])")  # type: ignore[attr-defined]
    assert "403" in page.text_content("#error")  # type: ignore[attr-defined]
    assert page.locator("#versions tbody tr").count() == 0  # type: ignore[attr-defined]
    use_key(page, API_KEY)
    page.click("#ops-load")  # type: ignore[attr-defined]
    page.wait_for_selector("#versions tbody tr")  # type: ignore[attr-defined]
    assert page.locator("#checks tbody tr").count() >= 3  # type: ignore[attr-defined]
    served = page.locator("#versions tbody tr", has_text="served")  # type: ignore[attr-defined]
    assert served.count() == 1 and "ppo" in served.text_content()
    assert page.locator("#loss-plot polyline").count() == 1 and page.locator("#curve-plot polyline").count() >= 1  # type: ignore[attr-defined]
    # greedy, greedy_quality, greedy_folded and ppo were scored on the held-out users: a bar each
    assert page.locator("#returns-plot rect").count() == 4  # type: ignore[attr-defined]
    assert page.is_hidden("#error")  # type: ignore[attr-defined]
    shoot(page, "operations")
    # every method's training metrics, by name, one checkpoint each
    named = {"ppo": ("policy_loss", "value_loss", "approx_kl", "clip_fraction", "explained_variance", "entropy",
                     "gradient_norm", "validation_return"),
             "drr@recsim-ie": ("critic_loss", "actor_loss", "td_error", "mean_q", "critic_gradient_norm"),
             "slateq@recsim-ie": ("td_loss", "choice_loss", "mean_q", "gradient_norm", "validation_return"),
             "kgdqn@recsim-ie": ("td_loss", "td_error", "mean_q", "gradient_norm")}
    for checkpoint, metrics in named.items():
        page.select_option("#metrics-policy", checkpoint)  # type: ignore[attr-defined]
        for metric in metrics:
            plot = page.locator(f'#metrics-plots figure[data-metric="{metric}"] polyline')  # type: ignore[attr-defined]
            assert plot.count() == 1, (checkpoint, metric)
        page.locator("#metrics-plots").screenshot(  # type: ignore[attr-defined]
            path=str(ARTIFACTS / f"metrics-{checkpoint.split('@')[0]}.png"))
    # a simulator's record is not a ranker of the catalogue: no bar, no validation curve, nothing to compare
    assert page.locator("#returns-plot rect").count() == 4  # type: ignore[attr-defined]
    assert "@" not in page.text_content("#curve-legend")  # type: ignore[attr-defined]
