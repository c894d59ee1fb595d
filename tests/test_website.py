"""The website, tested in a real browser: every page of `_toc.yml` as a reader's Chromium shows it.

A session fixture builds the book (`jupyter-book build`, into a temporary folder so that it never
races with a `make book` running beside it), serves the HTML on 127.0.0.1 and opens every page in
headless Chromium (Playwright driving the system's `/usr/bin/chromium`; never a downloaded one).
Requests to any other host are aborted: the tests run offline, and a page must not depend on them.

For each page: no console errors and no failed requests; every local image loaded; notebook pages
show their outputs and launch Colab on their own notebook; every internal link and anchor resolves.
Search must find "GradientTape". A full-page screenshot of each page goes to `_build/screenshots/`.

Without Chromium the tests skip (with the reason printed), except in CI (`CI=true`), where they fail.
`COURSE_CHROMIUM=/path/to/chromium` picks another executable.

Run them alone with `.venv/bin/python -m pytest tests/test_website.py -p no:nbval -o addopts=""`
(`make test` runs them with everything else). New pages in `_toc.yml` are picked up by themselves.
"""

import functools
import html.parser
import http.server
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
HOST = "127.0.0.1"
TIMEOUT_MS = 30_000


def toc_entries(node):
    """The root and every `file:` of the table of contents, in reading order."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("root", "file"):
                yield value
            else:
                yield from toc_entries(value)
    elif isinstance(node, list):
        for item in node:
            yield from toc_entries(item)


def source_of(entry):
    """The source file of a toc entry, relative to the repository root (`.ipynb` or `.md`)."""
    for suffix in (".ipynb", ".md"):
        if (ROOT / entry).with_suffix(suffix).exists():
            return (ROOT / entry).with_suffix(suffix).relative_to(ROOT).as_posix()
    return entry  # missing: tests/test_book.py names it; here the page will not load


PAGES = list(dict.fromkeys(toc_entries(yaml.safe_load((ROOT / "_toc.yml").read_text()))))
NOTEBOOK_PAGES = [p for p in PAGES if source_of(p).endswith(".ipynb")]


def expected_colab_url(entry):
    repository = CONFIG["repository"]
    github = repository["url"].removeprefix("https://github.com/").strip("/")
    path = "/".join(part for part in (repository.get("path_to_book", "").strip("/"), source_of(entry)) if part)
    return f"https://colab.research.google.com/github/{github}/blob/{repository.get('branch', 'main')}/{path}"


def screenshot_path(entry):
    return SCREENSHOTS / f"{entry.replace('/', '-')}.png"


def is_local(url):
    return urllib.parse.urlsplit(url).hostname == HOST


def unavailable(reason, request):
    """Skip on a reader's machine (saying why), fail in CI: a CI run must never skip this suite."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser tests must run in CI)", pytrace=False)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # print past pytest's output capture
            reporter.write_line(f"\ntests/test_website.py: the browser tests are skipped: {reason}", yellow=True)
    pytest.skip(reason)


# ------------------------------------------------------------------------------------------------
# Fixtures: the browser, the built and served site, and one recorded visit per page.


@pytest.fixture(scope="session")
def browser(request):
    if not Path(CHROMIUM).exists():
        unavailable(
            f"no Chromium at {CHROMIUM}; install it with `apt-get install chromium chromium-driver` "
            "(or set COURSE_CHROMIUM)",
            request,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed: pip install -e '.[test]'", request)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def site(browser, tmp_path_factory):
    """Build the book into a temporary folder and serve its HTML; yields the base URL."""
    output = tmp_path_factory.mktemp("website")
    bin_dir = Path(sys.executable).parent
    jupyter_book = shutil.which("jupyter-book", path=str(bin_dir)) or shutil.which("jupyter-book")
    assert jupyter_book, "jupyter-book is not installed: pip install -e '.[book]'"
    build = subprocess.run(
        [jupyter_book, "build", str(ROOT), "--path-output", str(output), "--keep-going"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    html_dir = output / "_build" / "html"
    assert build.returncode == 0 and (html_dir / "index.html").exists(), build.stdout[-3000:] + build.stderr[-3000:]

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((HOST, 0), functools.partial(QuietHandler, directory=str(html_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for stale in set(SCREENSHOTS.glob("*.png")) - {screenshot_path(entry) for entry in PAGES}:
        stale.unlink()  # a page that left the table of contents
    yield f"http://{HOST}:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def offline_context(browser):
    """A fresh browser context in which only 127.0.0.1 answers; other hosts are aborted at once."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", lambda route: route.continue_() if is_local(route.request.url) else route.abort())
    return context


@pytest.fixture(scope="session")
def visits(browser, site):
    """Each page is opened once; its record is shared by the checks below."""
    cache = {}

    def visit(entry):
        if entry not in cache:
            try:
                cache[entry] = record_visit(browser, site, entry)
            except Exception as error:  # e.g. a time-out: report it in each check, but only wait once
                cache[entry] = error
        if isinstance(cache[entry], Exception):
            raise cache[entry]
        return cache[entry]

    return visit


def record_visit(browser, base, entry):
    url = urllib.parse.urljoin(base, f"{entry}.html")
    console_errors, failed_requests = [], []
    context = offline_context(browser)
    page = context.new_page()

    def on_console(message):
        if message.type == "error" and is_local(message.location.get("url", "") or url):
            console_errors.append(f"{message.text} ({message.location.get('url')})")

    def on_response(response):
        if is_local(response.url) and response.status >= 400:
            failed_requests.append(f"HTTP {response.status} {response.url}")

    def on_request_failed(request):
        if is_local(request.url):
            failed_requests.append(f"{request.failure} {request.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console_errors.append(f"uncaught: {error}"))
    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    try:
        response = page.goto(url, wait_until="load")
        page.wait_for_load_state("networkidle")
        status = response.status if response else None
        page.screenshot(path=str(screenshot_path(entry)), full_page=True)
        images = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete, width: i.naturalWidth}))"
        )
        outputs = page.eval_on_selector_all(
            ".cell_output",
            # An ipywidget's view is drawn by a script from a CDN, which is blocked here: its stored
            # view counts as shown (online, the page draws it; offline, the reader sees a blank).
            """els => els.map(e => (e.innerText.trim().length > 0
                || e.querySelector('img, svg, canvas, table, video, iframe') !== null
                || e.querySelector('script[type="application/vnd.jupyter.widget-view+json"]') !== null))""",
        )
        colab_buttons = page.eval_on_selector_all(
            '.article-header-buttons a[href^="https://colab.research.google.com/github/"]', "as => as.map(a => a.href)"
        )
        links = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
    finally:
        context.close()
    return {
        "url": url,
        "status": status,
        "console_errors": console_errors,
        "failed_requests": failed_requests,
        "images": images,
        "outputs": outputs,
        "colab_buttons": colab_buttons,
        "links": links,
    }


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        self.ids.update(value for name, value in attrs if name == "id" and value)


@functools.lru_cache(maxsize=None)
def fetch_ids(url):
    """(HTTP status, set of element ids) of a local page."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, frozenset()
    parser = _Ids()
    if url.endswith((".html", "/")):
        parser.feed(body.decode("utf-8", errors="replace"))
    return status, frozenset(parser.ids)


# ------------------------------------------------------------------------------------------------
# The checks, one test per page each.


@pytest.mark.parametrize("entry", PAGES)
def test_page_loads_without_console_errors_or_failed_requests(visits, entry):
    record = visits(entry)
    assert record["status"] == 200, f"{record['url']} answered {record['status']}"
    assert not record["console_errors"], "console errors:\n" + "\n".join(record["console_errors"])
    assert not record["failed_requests"], "failed requests:\n" + "\n".join(record["failed_requests"])
    assert screenshot_path(entry).stat().st_size > 0


@pytest.mark.parametrize("entry", PAGES)
def test_every_local_image_is_loaded(visits, entry):
    # Offline, images from other hosts cannot load: only this site's (and inline data) must.
    images = [i for i in visits(entry)["images"] if is_local(i["src"]) or i["src"].startswith("data:")]
    broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"


@pytest.mark.parametrize("entry", NOTEBOOK_PAGES)
def test_notebook_page_shows_its_outputs(visits, entry):
    outputs = visits(entry)["outputs"]
    assert outputs, "no element with class cell_output: the stored outputs are missing from the page"
    empty = [i for i, shown in enumerate(outputs) if not shown]
    assert not empty, f"empty cell outputs (index among the page's {len(outputs)} outputs): {empty}"


@pytest.mark.parametrize("entry", NOTEBOOK_PAGES)
def test_colab_launch_button_opens_this_notebook(visits, entry):
    record = visits(entry)
    expected = expected_colab_url(entry)
    assert record["colab_buttons"], "no Colab launch button in the page header"
    assert set(record["colab_buttons"]) == {expected}


@pytest.mark.parametrize("entry", PAGES)
def test_every_internal_link_and_anchor_resolves(visits, entry):
    problems = []
    for link in sorted(set(visits(entry)["links"])):
        if not is_local(link):
            continue
        target, _, fragment = link.partition("#")
        status, ids = fetch_ids(target)
        if status != 200:
            problems.append(f"{link}: HTTP {status}")
        elif fragment and urllib.parse.unquote(fragment) not in ids:
            missing_page = fragment.endswith((".ipynb", ".md"))  # how MyST writes a link to an unbuilt page
            hint = " (a link to a page that is not in the book: is it in _toc.yml?)" if missing_page else ""
            problems.append(f"{link}: no element with id {urllib.parse.unquote(fragment)!r}{hint}")
    assert not problems, "broken internal links:\n" + "\n".join(problems)


def test_search_finds_gradienttape(browser, site):
    context = offline_context(browser)
    page = context.new_page()
    try:
        page.goto(urllib.parse.urljoin(site, "search.html?q=GradientTape"), wait_until="load")
        results = page.locator("#search-results ul.search li a")
        results.first.wait_for(state="attached", timeout=TIMEOUT_MS)
        found = results.evaluate_all("as => as.map(a => a.href)")
    finally:
        context.close()
    assert any(is_local(url) and url.split("#")[0].endswith(".html") for url in found), found
