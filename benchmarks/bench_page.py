"""The clinic page in headless Chromium (Debian's chromium and chromium-driver): its goals.

Serves a bundle with ``asym serve --no-auth`` on loopback and measures, in the browser with the
Performance API:

* the page's own files (``serving/static``), uncompressed (goal <= 300 KB);
* first render: from navigation start to the chart drawn and the form built (the page's
  ``page-ready`` mark), median of fresh loads (goal <= 1 s);
* after a point moves (keyboard nudges of one point, each answered before the next), the time
  from the API's answer to the frame that shows the new risk (the page's ``risk-shown``
  measure), median of 20 moves (goal <= 150 ms), beside the API's own round trip as the page
  sees it (``api-answer``).

The machine may be shared: medians, and the ratio to each goal, from one run.

    .venv/bin/python benchmarks/bench_page.py --model BUNDLE_DIR|models:/asym@champion
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.resources import files

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

GOALS = {"files_kb": 300.0, "first_render_ms": 1000.0, "risk_shown_ms": 150.0}


@contextlib.contextmanager
def served(model: str) -> Iterator[str]:
    """``asym serve --no-auth`` on a free loopback port until the block ends."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = "sqlite:///artifacts/bench_page_log.db"
    cmd = [sys.executable, "-c", "from asym_cli import app; app()", "serve", "--model", model,
           "--no-auth", "--log-url", log, "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # at most 60 s
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise SystemExit("asym serve did not become ready")
        yield url
    finally:
        server.terminate()
        server.wait(30)


def chromium() -> WebDriver:
    """Headless Chromium at 1280x800."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def files_kb() -> float:
    """Size of the page's own files, KB (1000 bytes)."""
    static = files("serving") / "static"
    return sum(len(f.read_bytes()) for f in static.iterdir() if f.is_file()) / 1000


def _ready(driver: WebDriver) -> None:
    body = driver.find_element(By.TAG_NAME, "body")
    WebDriverWait(driver, 30).until(lambda _: body.get_attribute("data-ready") == "true")


def first_render_ms(driver: WebDriver, url: str, loads: int) -> list[float]:
    """Per fresh load, ms from navigation start to the page's ``page-ready`` mark."""
    out = []
    for _ in range(loads):
        driver.get("about:blank")
        driver.get(url)
        _ready(driver)
        ms = driver.execute_script("return performance.getEntriesByName('page-ready')[0].startTime")
        out.append(float(ms))
    return out


def _answers(driver: WebDriver) -> int:
    return int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-answers") or 0)


def _wait_answer(driver: WebDriver, after: int) -> None:
    def answered(d: WebDriver) -> bool:
        return _answers(d) > after

    WebDriverWait(driver, 30).until(answered)


def _wait_measures(driver: WebDriver, name: str, count: int) -> None:
    def taken(d: WebDriver) -> bool:
        return (
            int(d.execute_script(f"return performance.getEntriesByName('{name}').length")) >= count
        )

    WebDriverWait(driver, 10).until(taken)


def moves_ms(driver: WebDriver, url: str, moves: int) -> tuple[list[float], list[float]]:
    """Per move, ms from the API's answer to the risk shown, and the API's round trip."""
    driver.get(url)
    _ready(driver)
    driver.find_element(By.CSS_SELECTOR, "[data-path='patient.age_years']").send_keys("45")
    for muscle, side in [("frontalis", "left"), ("frontalis", "right"), ("corrugator", "left"),
                         ("corrugator", "right"), ("orbicularis_oculi", "left"),
                         ("orbicularis_oculi", "right")]:  # fmt: skip
        Select(driver.find_element(By.ID, "add-muscle")).select_by_value(muscle)
        Select(driver.find_element(By.ID, "add-side")).select_by_value(side)
        before = _answers(driver)
        driver.find_element(By.ID, "add-point").click()
        _wait_answer(driver, before)
    driver.execute_script("performance.clearMeasures()")
    for i in range(moves):
        before = _answers(driver)
        point = driver.find_element(By.CSS_SELECTOR, ".point[data-index='0']")
        point.send_keys(Keys.ARROW_DOWN if i % 2 else Keys.ARROW_UP)
        _wait_answer(driver, before)
        # The measure is taken in the next animation frame after the answer is drawn.
        _wait_measures(driver, "risk-shown", i + 1)
    shown = driver.execute_script(
        "return performance.getEntriesByName('risk-shown').map(e => e.duration)"
    )
    api = driver.execute_script(
        "return performance.getEntriesByName('api-answer').map(e => e.duration)"
    )
    return [float(v) for v in shown], [float(v) for v in api]


def main() -> None:
    """Measure and print each figure beside its goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models:/asym@champion")
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--moves", type=int, default=20)
    args = parser.parse_args()
    with served(args.model) as url:
        driver = chromium()
        try:
            renders = first_render_ms(driver, url + "/", args.loads)
            shown, api = moves_ms(driver, url + "/", args.moves)
        finally:
            driver.quit()
    size = files_kb()
    render, answer = statistics.median(renders), statistics.median(shown)
    rows = [
        ("page's own files, uncompressed", f"{size:.1f} KB", GOALS["files_kb"], size),
        (f"first render (median of {len(renders)} loads)", f"{render:.0f} ms",
         GOALS["first_render_ms"], render),
        (f"answer -> risk shown (median of {len(shown)} moves)", f"{answer:.1f} ms",
         GOALS["risk_shown_ms"], answer),
    ]  # fmt: skip
    print(f"{'figure':<44} {'measured':>10} {'goal':>8} {'of goal':>8}")
    for name, shown_text, goal, value in rows:
        print(f"{name:<44} {shown_text:>10} {goal:>8g} {value / goal:>8.1%}")
    print(
        f"beside it: the API's round trip as the page sees it, median {statistics.median(api):.1f}"
        f" ms (min {min(api):.1f}, max {max(api):.1f}); answer -> shown max {max(shown):.1f} ms;"
        f" first render min {min(renders):.0f}, max {max(renders):.0f} ms"
    )


if __name__ == "__main__":
    main()
