"""The README's pictures: the demo's tracking issue drawn by a real browser, as GitHub shows it.

The browser tests need Chromium (Debian: ``apt-get install chromium``; ``.ci/run`` installs
it) and npm (to fetch the pinned mermaid and github-markdown-css once into
``.cache/screenshots/``); they are skipped only when no Chromium can be found.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import pytest

from tools import screenshots
from tools.cdp import find_chromium
from tools.screenshots import (
    BLOCKED_RUNS,
    FIRST_SCREEN,
    SCALE,
    WIDTH,
    Issue,
    Rendered,
    demo_issue,
    markdown_html,
    render,
)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = find_chromium()
needs_browser = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium or Chrome found (apt-get install chromium, or set CHROME_BIN; "
    ".ci/run installs it)",
)


def browser_test(fn: Any) -> Any:
    """A test that drives Chromium: skipped without one, and slow (a browser start each)."""
    return pytest.mark.slow(needs_browser(fn))


PICTURES = {  # docs/ file → (width, height or None for a full page) in device pixels
    "tracking-issue-blocked.png": (WIDTH * SCALE, FIRST_SCREEN * SCALE),
    "tracking-issue-blocked-full.png": (WIDTH, None),
    "tracking-issue-passing-full.png": (WIDTH, None),
}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def blocked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Issue, Rendered, Path]:
    """The demo's issue after a passing iteration and then an auth failure, rendered."""
    if CHROMIUM is None:
        pytest.skip("no Chromium")
    work = tmp_path_factory.mktemp("blocked")
    issue = demo_issue(work, BLOCKED_RUNS)
    png = work / "first-screen.png"
    rendered = render(
        issue.body, work, title=issue.title, closed=issue.closed, first_screen_png=png
    )
    return issue, rendered, png


# -- without a browser ------------------------------------------------------------------------
def test_mermaid_blocks_become_chart_placeholders() -> None:
    """A ```mermaid fence becomes <pre class="mermaid"> with its text escaped; others stay code."""
    out = markdown_html('```mermaid\nxychart-beta\n  title "a <b>"\n```\n\n```sh\nls\n```\n')
    assert '<pre class="mermaid">xychart-beta\n  title &quot;a &lt;b&gt;&quot;\n</pre>' in out
    assert '<code class="language-sh">ls' in out


def test_issue_rules_of_github() -> None:
    """Newlines break lines, tables render, <details> and hidden comments pass through."""
    out = markdown_html(
        "**A:** 1  \n**B:** 2\nC\n\n| x |\n|---|\n| 1 |\n\n"
        "<details><summary>more</summary>\n\n- y\n\n</details>\n<!-- state -->\n"
    )
    assert "2<br />\nC" in out
    assert "<table>" in out and "<td>1</td>" in out
    assert "<details><summary>more</summary>" in out and "<!-- state -->" in out
    linked = markdown_html("URL: http://127.0.0.1:8080 on fly.io")
    assert '<a href="http://127.0.0.1:8080">' in linked and "fly.io</a>" not in linked


def test_docs_pictures_are_committed_and_shown() -> None:
    """docs/ holds each picture at the size the tool draws, and the README shows each one."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, (width, height) in PICTURES.items():
        data = (ROOT / "docs" / name).read_bytes()
        got_width, got_height = png_size(data)
        assert got_width == width, name
        assert got_height == height if height else got_height > 2 * FIRST_SCREEN, name
        assert f"docs/{name}" in readme, f"README does not show docs/{name}"


def test_make_screenshots_runs_the_tool() -> None:
    """`make screenshots` is the documented way to redraw the pictures."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^screenshots:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert target, "Makefile has no screenshots target"
    assert "-m tools.screenshots" in target[1]


# -- in the browser ---------------------------------------------------------------------------
@browser_test
def test_the_progress_chart_draws(blocked: tuple[Issue, Rendered, Path]) -> None:
    """Mermaid turns the issue's chart into an xychart with the passing counts plotted."""
    issue, rendered, _ = blocked
    assert "```mermaid" in issue.body
    assert rendered.errors == []
    (chart,) = rendered.charts
    assert chart is not None, "the ```mermaid block was left as text"
    assert chart["role"] == "xychart"
    assert chart["plotted"] >= 1, "axes but no line"
    assert {"1", "2", "iteration", "passing %", "100"} <= set(chart["labels"])
    assert chart["width"] > 300 and chart["height"] > 200


@browser_test
def test_first_screen_shows_the_status_and_the_blocker(
    blocked: tuple[Issue, Rendered, Path],
) -> None:
    """Without scrolling, a reader sees the status headline and the blocker's ROOT ISSUE."""
    issue, rendered, _ = blocked
    assert not issue.closed
    text = rendered.first_screen
    assert "Current Status: CRITICAL BLOCKER" in text
    assert re.search(
        r"ROOT ISSUE(?: \(B\d+\))? ?: WebSocket Authentication \S*SSOT Auth failed", text
    ), text


@browser_test
def test_first_screen_picture(blocked: tuple[Issue, Rendered, Path]) -> None:
    """The first-screen picture is a PNG of exactly the measured viewport, at 2× pixels."""
    _, _, png = blocked
    assert png_size(png.read_bytes()) == (WIDTH * SCALE, FIRST_SCREEN * SCALE)
    assert png.stat().st_size > 50_000, "a blank page compresses to almost nothing"


@browser_test
def test_the_checks_can_fail(tmp_path: Path) -> None:
    """A chart Mermaid cannot parse, text below the fold and collapsed text are all caught."""
    body = (
        "**Current Status:** TOP\n\n<details><summary>folded</summary>\n\nHIDDEN\n\n</details>\n\n"
        "```mermaid\nxychart-beta\n    line [1, 2\n```\n\n" + "filler\n\n" * 80 + "BELOW THE FOLD\n"
    )
    rendered = render(body, tmp_path, title="t", closed=False)
    assert rendered.errors, "Mermaid's parse error was not reported"
    assert not any(c and c["role"] == "xychart" and c["plotted"] for c in rendered.charts)
    assert "Current Status: TOP" in rendered.first_screen
    assert "folded" in rendered.first_screen
    assert "HIDDEN" not in rendered.first_screen
    assert "BELOW THE FOLD" not in rendered.first_screen
    assert rendered.height > FIRST_SCREEN


def test_a_missing_browser_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CHROME_BIN naming nothing: render() says how to install a browser."""
    monkeypatch.setenv("CHROME_BIN", str(tmp_path / "no-such-chromium"))
    with pytest.raises(screenshots.SetupError, match="apt-get install chromium"):
        render("x", tmp_path, title="t", closed=False)
