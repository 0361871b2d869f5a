"""index.html opened in a real browser (headless Chromium through chromedriver): the table's rows
are in the DOM, clicking a header sorts them, a hostile label stays text, the page needs no
network, a regression against the baseline is highlighted, and a screenshot is not blank.

.ci/run installs Debian's chromium and chromium-driver when they are missing; without them
this file is skipped, never passed."""

import io
import json
import shutil

import pytest
from PIL import Image

from bench.regress import make_baseline
from bench.report import write_report
from bench.results import current_scores
from test_report import finished, job, suite_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver")

HOSTILE = "<script>window.pwned = 1</script>"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--proxy-server=127.0.0.1:9"):  # any network request fails
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    yield driver
    driver.quit()


@pytest.fixture
def page(tmp_path):
    """A report of three models, one with a hostile label, the last regressed against a baseline."""
    from bench.store import Store

    store = Store(tmp_path / "r.sqlite")
    jobs = [job(label, beta, seed) for label, beta in (("A", 1.0), ("B", 2.0), (HOSTILE, 3.0)) for seed in (0, 1)]
    values = {"A": (0.30, 0.31), "B": (0.10, 0.12), HOSTILE: (0.20, 0.21)}
    for j in jobs:
        finished(store, j, {"mig": values[j.label][j.seed], "l1": 0.1 + j.seed / 100})
    suite = suite_of(jobs)
    out = tmp_path / "out"
    baseline = make_baseline(suite, current_scores(store, suite), {"git_sha": "abc"}, {})
    for cell in baseline["cells"]:  # A was far better in the baseline: its MIG regressed now
        if cell["label"] == "A" and cell["output"] == "mig":
            cell["mean"], cell["values"] = 0.9, {"0": 0.9, "1": 0.9}
    out.mkdir()
    (out / "baseline.json").write_text(json.dumps(baseline))
    write_report(store, suite, out)
    return out / "index.html"


def column(driver, index):
    return [row.find_elements("css selector", "td")[index].text
            for row in driver.find_elements("css selector", "table.board tbody tr")]


def test_the_report_in_chromium(browser, page, tmp_path):
    browser.get(page.as_uri())
    assert browser.title == "Leaderboard: s"
    labels = column(browser, 0)
    assert labels == ["A", "B", HOSTILE]  # the suite's order; the hostile label shown as text
    assert browser.execute_script("return window.pwned === undefined")  # and never run
    mig = browser.find_elements("css selector", "table.board th")[4]
    assert mig.text.startswith("mig")
    mig.click()
    assert column(browser, 0) == ["B", HOSTILE, "A"]  # ascending MIG
    mig.click()
    assert column(browser, 0) == ["A", HOSTILE, "B"]  # descending
    regressed = browser.find_elements("css selector", "td.regressed")
    assert len(regressed) == 1 and regressed[0].text.startswith("0.305")
    assert "baseline 0.9" in regressed[0].get_attribute("title")
    best = browser.find_elements("css selector", "table.board td strong")
    assert {b.text.split(" ")[0] for b in best} == {"0.305", "0.105"}  # best MIG (↑) and best L1 (↓)
    assert browser.find_elements("css selector", "figure img")  # the figures are embedded
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [r for r in resources if not r.startswith("data:")] == []  # nothing fetched from anywhere
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L")
    (tmp_path / "screenshot.png").write_bytes(browser.get_screenshot_as_png())
    low, high = shot.getextrema()
    assert high - low > 100 and len(set(shot.getdata())) > 10  # text and table drawn, not a blank page
