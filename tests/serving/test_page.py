"""The clinic page in a real headless Chromium against a real ``asym serve`` on loopback.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them when missing).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait
from typer.testing import CliRunner

from asym_cli import app
from data.atlas import MUSCLE_ATLAS
from tests.serving.live import asym_serve

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Six points clicked at the muscles' centres (atlas frame: x toward the patient's left).
SIX = [
    (muscle, side)
    for muscle in ("frontalis", "corrugator", "orbicularis_oculi")
    for side in ("left", "right")
]


def _centre(muscle: str, side: str) -> tuple[float, float]:
    blob = MUSCLE_ATLAS[muscle].blob
    return (blob.x_mm if side == "left" else -blob.x_mm), blob.y_mm


@pytest.fixture(scope="module")
def server(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``asym serve`` on the shared tiny bundle; yields its URL and an API key."""
    folder = tmp_path_factory.mktemp("page-server")
    keys = folder / "keys.jsonl"
    made = CliRunner().invoke(app, ["keys", "create", "--clinic", "c", "--keys-file", str(keys)])
    assert made.exit_code == 0, made.output
    args = ["--model", str(bundle), "--keys-file", str(keys),
            "--log-url", f"sqlite:///{folder / 'log.db'}"]  # fmt: skip
    with asym_serve(args) as (_, url):
        yield url, made.output.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium from Debian's package, driven through its chromium-driver."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    assert not missing, f"{missing} not found: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go (pytest keeps the last runs' temporary folders)."""
    return tmp_path_factory.mktemp("page-screenshots")


def _open(browser: WebDriver, url: str, key: str | None) -> None:
    browser.set_window_size(1280, 800)
    browser.get(url)
    body = browser.find_element(By.TAG_NAME, "body")
    WebDriverWait(browser, 20).until(lambda _: body.get_attribute("data-ready") == "true")
    if key:
        browser.find_element(By.ID, "api-key").send_keys(key)
        browser.find_element(By.CSS_SELECTOR, "#key-form button").click()


def _field(browser: WebDriver, path: str) -> WebElement:
    return browser.find_element(By.CSS_SELECTOR, f"[data-path='{path}']")


def _type(browser: WebDriver, path: str, value: str) -> None:
    field = _field(browser, path)
    field.clear()
    field.send_keys(value)


def _answers(browser: WebDriver) -> int:
    return int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-answers") or 0)


def _wait_answer(browser: WebDriver, after: int) -> None:
    WebDriverWait(browser, 30).until(lambda b: _answers(b) > after)


def _client_xy(browser: WebDriver, x_mm: float, y_mm: float) -> tuple[int, int]:
    """Where a point of the atlas frame is on the screen (the chart's own transform)."""
    svg = browser.find_element(By.ID, "face")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", svg)
    xy: list[float] = browser.execute_script(
        "const m = arguments[0].getScreenCTM();"
        "return [m.a * arguments[1] + m.e, m.d * -arguments[2] + m.f];",
        svg,
        x_mm,
        y_mm,
    )
    return round(xy[0]), round(xy[1])


def _click_chart(browser: WebDriver, x_mm: float, y_mm: float) -> None:
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(*_client_xy(browser, x_mm, y_mm)).click()
    actions.perform()


def _drag(browser: WebDriver, start: tuple[float, float], end: tuple[float, float]) -> None:
    a, b = _client_xy(browser, *start), _client_xy(browser, *end)
    actions = ActionBuilder(browser)
    pointer = actions.pointer_action.move_to_location(*a).pointer_down()
    pointer.move_to_location((a[0] + b[0]) // 2, (a[1] + b[1]) // 2).move_to_location(*b)
    pointer.pointer_up()
    actions.perform()


def _shown_risk(browser: WebDriver) -> str:
    return str(browser.find_element(By.ID, "risk-value").text)


def _api(url: str, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{url}{path}", json=body, headers={"X-API-Key": key}, timeout=60)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _chart_six(browser: WebDriver) -> dict[str, Any]:
    """Fill the patient, click the six points; returns the request the page sends."""
    _type(browser, "patient.age_years", "45")
    # A left brow 3 mm higher at baseline: a plan the tiny model's advisor can improve.
    _type(browser, "patient.brow_height_diff_mm", "3")
    for muscle, side in SIX:
        before = _answers(browser)
        _click_chart(browser, *_centre(muscle, side))
        _wait_answer(browser, before)
    request: dict[str, Any] = browser.execute_script("return window.asymPage.request()")
    return request


def test_the_page_loads_without_a_key_and_draws_the_atlas(
    server: tuple[str, str], browser: WebDriver
) -> None:
    url, _ = server
    assert httpx.get(f"{url}/").status_code == 200  # no key needed to load it
    _open(browser, url, key=None)
    drawn = browser.find_elements(By.CSS_SELECTOR, "ellipse.muscle")
    assert len(drawn) == sum(2 if m.paired else 1 for m in MUSCLE_ATLAS.values())
    names = {e.get_attribute("data-muscle") for e in drawn}
    assert names == set(MUSCLE_ATLAS)
    disclaimer = browser.find_element(By.ID, "disclaimer")
    assert "simulated data" in disclaimer.text and "not for clinical use" in disclaimer.text
    assert "emergency" in disclaimer.text
    # The patient form comes from the request schema: its range is the contract's.
    assert _field(browser, "patient.age_years").get_attribute("max") == "100"


def test_six_clicked_points_show_the_risk_the_api_gives_and_a_drag_moves_it(
    server: tuple[str, str], browser: WebDriver, shots: Path
) -> None:
    url, key = server
    _open(browser, url, key)
    request = _chart_six(browser)
    points = request["plan"]["injections"]
    assert [(p["muscle"], p["side"]) for p in points] == SIX  # nearest muscle and side
    for p, (muscle, side) in zip(points, SIX, strict=True):
        x, y = _centre(muscle, side)
        assert abs(p["x_mm"] - x) <= 1.0 and abs(p["y_mm"] - y) <= 1.0
    answer = _api(url, key, "/v1/predict", request)
    assert _shown_risk(browser) == f"{100 * answer['asymmetry_risk']:.1f}%"
    assert len(browser.find_elements(By.CSS_SELECTOR, ".survival")) == len(
        {r["region"] for r in answer["longevity"]}
    )
    browser.save_screenshot(str(shots / "page-1280x800.png"))

    # Drag the left frontalis point down to the brow: the risk shown follows the new plan.
    before = _answers(browser)
    x, y = _centre("frontalis", "left")
    _drag(browser, (x, y), (x, y - 22))
    _wait_answer(browser, before)
    moved = browser.execute_script("return window.asymPage.request()")
    assert moved["plan"]["injections"][0]["y_mm"] == pytest.approx(y - 22, abs=1.0)
    after = _api(url, key, "/v1/predict", moved)
    assert after["asymmetry_risk"] != answer["asymmetry_risk"]
    WebDriverWait(browser, 10).until(
        lambda b: _shown_risk(b) == f"{100 * after['asymmetry_risk']:.1f}%"
    )
    # The low frontalis point's warning sits beside that point, on the chart and in its row.
    assert any(w["code"] == "frontalis_point_low" for w in after["warnings"])
    first = browser.find_element(By.CSS_SELECTOR, ".point[data-index='0']")
    assert first.find_elements(By.CSS_SELECTOR, ".warn-badge")
    assert "frontalis" in browser.find_elements(By.CSS_SELECTOR, ".point-warn")[0].text


def test_a_safer_plan_is_drawn_and_applied_and_the_schedule_shown(
    server: tuple[str, str], browser: WebDriver
) -> None:
    url, key = server
    _open(browser, url, key)
    request = _chart_six(browser)
    expected = _api(url, key, "/v1/recommend", request)
    assert expected["status"] == "improved"
    browser.find_element(By.ID, "suggest").click()
    apply = browser.find_element(By.ID, "apply")
    WebDriverWait(browser, 30).until(lambda _: apply.is_enabled())
    ghosts = browser.find_elements(By.CSS_SELECTOR, ".ghost")
    assert len(ghosts) == len(expected["changes"]) > 0
    before = _answers(browser)
    apply.click()
    _wait_answer(browser, before)
    applied = browser.execute_script("return window.asymPage.request()")
    assert applied["plan"] == expected["suggested_plan"]
    assert _shown_risk(browser) == f"{100 * expected['after']['asymmetry_risk']:.1f}%"

    browser.find_element(By.ID, "schedule").click()
    WebDriverWait(browser, 30).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#timeline svg.timeline")
    )
    schedule = _api(url, key, "/v1/schedule", {**applied, "treatment_date": None})
    rows = browser.find_elements(By.CSS_SELECTOR, "#timeline svg.timeline .label")
    assert [r.text for r in rows] == [g["region"].replace("_", " ") for g in schedule["regions"]]


def test_an_out_of_range_value_is_shown_beside_its_field(
    server: tuple[str, str], browser: WebDriver, shots: Path
) -> None:
    url, key = server
    _open(browser, url, key)
    _type(browser, "patient.age_years", "150")
    before = _answers(browser)
    browser.find_element(By.ID, "add-point").click()  # keyboard-reachable: a button
    error = browser.find_element(By.CSS_SELECTOR, "[data-error-for='patient.age_years']")
    WebDriverWait(browser, 30).until(lambda _: "100" in error.text)
    assert _answers(browser) == before  # no answer drawn for a refused request
    assert _field(browser, "patient.age_years").get_attribute("aria-invalid") == "true"
    _type(browser, "patient.age_years", "45")
    _type(browser, "plan.injections[0].units", "500")
    spot = browser.find_element(By.CSS_SELECTOR, "[data-error-for='plan.injections[0].units']")
    WebDriverWait(browser, 30).until(lambda _: "100" in spot.text)
    assert error.text == ""

    # The point is reachable by keyboard: focus it, the arrow keys move it 1 mm.
    point = browser.find_element(By.CSS_SELECTOR, ".point[data-index='0']")
    y0 = browser.execute_script("return window.asymPage.state.points[0].y_mm")
    point.send_keys(Keys.ARROW_UP)
    assert browser.execute_script("return window.asymPage.state.points[0].y_mm") == y0 + 1

    browser.set_window_size(768, 1024)
    # Readable at tablet width: nothing wider than the window.
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth")
    browser.save_screenshot(str(shots / "page-768x1024.png"))
    assert (shots / "page-768x1024.png").stat().st_size > 10_000
