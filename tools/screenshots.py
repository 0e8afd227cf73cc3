"""Pictures of the tracking issue for the README, drawn the way GitHub shows an issue.

``golden-path demo`` writes the issue body; markdown-it-py turns it into HTML with the rules
GitHub applies to issue bodies (tables, autolinks, raw ``<details>``, a newline is a line
break); GitHub's own Markdown stylesheet (npm ``github-markdown-css``) styles it; Mermaid
(npm ``mermaid``) draws the ```` ```mermaid ```` blocks, as GitHub does; headless Chromium
photographs the page. ``make screenshots`` (``python -m tools.screenshots``) rewrites the
PNGs in ``docs/``; ``tests/test_screenshots.py`` renders the same way and checks what a
reader sees.

The two npm packages are fetched with ``npm pack`` (two tarballs, no dependency tree: the
browser bundle of Mermaid is self-contained), verified against the integrity hashes pinned
below and cached in ``.cache/screenshots/``. Vendoring was rejected: ``mermaid.min.js``
alone is 3 MB of minified code that would need updating by hand.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "screenshots"
DOCS = ROOT / "docs"

WIDTH = 960  # CSS pixels: about the width of an issue's conversation column on github.com
FIRST_SCREEN = 1000  # CSS pixels: what a reader sees before scrolling
SCALE = 2  # device pixels per CSS pixel for the first-screen shots (sharp on HiDPI screens)

# The Markdown the demo writes for one iteration of each picture, in order.
BLOCKED_RUNS: tuple[tuple[str, ...], ...] = (("--fresh",), ("--fault", "auth"))
PASSING_RUNS: tuple[tuple[str, ...], ...] = (*BLOCKED_RUNS, ())


@dataclass(frozen=True)
class Asset:
    """One file out of an npm package, pinned by the tarball's integrity hash."""

    package: str
    version: str
    integrity: str  # npm's "dist.integrity" of the tarball
    member: str  # path inside the tarball

    @property
    def path(self) -> Path:
        return CACHE / f"{self.package}-{self.version}" / Path(self.member).name


MERMAID = Asset(
    "mermaid",
    "11.17.2",
    "sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg==",
    "package/dist/mermaid.min.js",
)
MARKDOWN_CSS = Asset(
    "github-markdown-css",
    "5.9.0",
    "sha512-tmT5sY+zvg2302XLYEfH2mtkViIM1SWf2nvYoF5N1ZsO0V6B2qZTiw3GOzw4vpjLygK/KG35qRlPFweHqfzz5w==",
    "package/github-markdown-light.css",
)
ASSETS = (MERMAID, MARKDOWN_CSS)


class SetupError(RuntimeError):
    """Something the pictures need (npm, a package) is missing; the message says how to fix."""


def fetch_assets() -> None:
    """Bring every asset into the cache once: ``npm pack``, verify the hash, extract one file."""
    missing = [a for a in ASSETS if not a.path.is_file()]
    if not missing:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError(
            "npm is not installed; the screenshots need it to fetch "
            + ", ".join(f"{a.package}@{a.version}" for a in missing)
            + " (Debian: apt-get install npm)"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    for asset in missing:
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            spec = f"{asset.package}@{asset.version}"
            proc = subprocess.run(
                [npm, "pack", spec, "--pack-destination", tmp, "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=600,
            )
            tarballs = list(Path(tmp).glob("*.tgz"))
            if proc.returncode != 0 or len(tarballs) != 1:
                raise SetupError(f"npm pack {spec} failed:\n{proc.stderr.strip()}")
            data = tarballs[0].read_bytes()
            digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
            if digest != asset.integrity:
                raise SetupError(f"{spec}: tarball hash {digest} is not the pinned one")
            with tarfile.open(tarballs[0]) as tar:
                member = tar.extractfile(asset.member)
                if member is None:
                    raise SetupError(f"{spec} has no {asset.member}")
                content = member.read()
            staged = Path(tmp) / asset.path.name
            staged.write_bytes(content)
            asset.path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, asset.path)  # atomic: parallel test workers never see half


# -- Markdown → page ---------------------------------------------------------------------------
def markdown_html(body: str) -> str:
    """The issue body as GitHub renders an issue: GFM, raw HTML kept, newline = line break."""
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML

    md = MarkdownIt("gfm-like", {"breaks": True, "html": True})
    assert md.linkify is not None, "gfm-like needs linkify-it-py (the dev extra brings it)"
    md.linkify.set({"fuzzy_link": False})  # GitHub links URLs, not bare names like fly.io

    def fence(self: RendererHTML, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        if token.info.strip() == "mermaid":
            return f'<pre class="mermaid">{html.escape(token.content)}</pre>\n'
        return RendererHTML.fence(self, tokens, idx, options, env)

    md.add_render_rule("fence", fence)
    return md.render(body)


FRAME_CSS = """
body { margin: 0; background: #ffffff; color: #1f2328;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial,
    sans-serif, "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji"; }
.issue { box-sizing: border-box; width: 100%; padding: 24px 24px 32px; }
.gh-header { border-bottom: 1px solid #d1d9e0; padding-bottom: 16px; margin-bottom: 24px; }
.gh-header h1 { font-size: 32px; font-weight: 400; line-height: 1.25; margin: 0 0 8px; }
.meta { color: #59636e; font-size: 14px; display: flex; gap: 8px; align-items: center; }
.state { color: #fff; border-radius: 2em; padding: 5px 12px; font-weight: 500; }
.state-open { background: #1f883d; } .state-closed { background: #8250df; }
.label { background: #ddf4ff; color: #0969da; border-radius: 2em; padding: 0 7px;
  font-size: 12px; font-weight: 500; line-height: 20px; }
.comment { border: 1px solid #d1d9e0; border-radius: 6px; }
.comment-header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px;
  font-size: 14px; color: #59636e; border-radius: 6px 6px 0 0; display: flex; gap: 6px;
  align-items: center; }
.comment-header b { color: #1f2328; }
.avatar { width: 20px; height: 20px; border-radius: 4px; background: #2da44e; }
.bot { border: 1px solid #d1d9e0; border-radius: 2em; padding: 0 6px; font-size: 12px; }
.markdown-body { padding: 16px; font-size: 14px; }
.markdown-body pre.mermaid { background: none; text-align: center; border: 1px solid #d1d9e0; }
"""

# Runs after the page loaded: draws the charts, waits for fonts, then reports what a reader
# sees. The first screen is every visible text fragment that lies entirely above the fold
# (text in a collapsed <details> is laid out but not visible, and does not count).
PAGE_JS = """
window.goldenPathReady = (async () => {
  const result = {charts: [], errors: [], firstScreen: "", height: 0};
  const blocks = [...document.querySelectorAll("pre.mermaid")];
  if (blocks.length && typeof mermaid === "undefined") {
    result.errors.push("mermaid.min.js did not load");
  } else if (blocks.length) {
    mermaid.initialize({startOnLoad: false, securityLevel: "strict", theme: "default"});
    try { await mermaid.run({nodes: blocks}); }
    catch (e) { result.errors.push(String((e && e.message) || e)); }
  }
  for (const pre of blocks) {
    const svg = pre.querySelector("svg");
    if (!svg) { result.charts.push(null); continue; }
    const box = svg.getBoundingClientRect();
    result.charts.push({
      role: svg.getAttribute("aria-roledescription") || "",
      labels: [...svg.querySelectorAll("text")].map(t => t.textContent.trim()).filter(Boolean),
      // the data itself (an xychart's line or bars), not just its axes
      plotted: [...svg.querySelectorAll(".plot path, .plot rect")]
        .filter(p => (p.getAttribute("d") || p.getAttribute("width") || "").length > 0).length,
      width: box.width, height: box.height,
    });
  }
  await document.fonts.ready;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  const seen = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!node.textContent.trim() || parent.closest("script, style")) continue;
    if (!parent.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    range.selectNodeContents(node);
    const boxes = [...range.getClientRects()].filter(r => r.width > 0 && r.height > 0);
    if (boxes.length && boxes.every(r => r.top >= 0 && r.bottom <= window.innerHeight)) {
      seen.push(node.textContent.trim());
    }
  }
  result.firstScreen = seen.join(" ");
  result.height = Math.ceil(document.documentElement.getBoundingClientRect().height);
  return result;
})();
"""


def page_html(body: str, *, title: str, closed: bool) -> str:
    """A standalone page: GitHub's issue header and comment box around the rendered body."""
    state = "closed" if closed else "open"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<link rel="stylesheet" href="{MARKDOWN_CSS.path.as_uri()}">
<style>{FRAME_CSS}</style></head>
<body><main class="issue">
<div class="gh-header"><h1>{html.escape(title)}</h1>
<div class="meta"><span class="state state-{state}">{state.title()}</span>
<span><b>github-actions</b> opened this issue</span><span class="label">golden-path</span></div>
</div>
<div class="comment"><div class="comment-header"><span class="avatar"></span>
<b>github-actions</b><span class="bot">bot</span> commented</div>
<article class="markdown-body">
{markdown_html(body)}
</article></div></main>
<script src="{MERMAID.path.as_uri()}"></script>
<script>{PAGE_JS}</script>
</body></html>
"""


# -- the browser -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rendered:
    """What a reader of the page sees, as measured in the browser."""

    charts: list[dict[str, Any] | None]  # one per ```mermaid block: None = nothing drawn
    errors: list[str]  # Mermaid's own errors (a chart it could not parse)
    first_screen: str  # the text above the fold, in document order
    height: int  # CSS pixels of the whole page


def render(
    body: str,
    workdir: Path,
    *,
    title: str,
    closed: bool,
    first_screen_png: Path | None = None,
    full_png: Path | None = None,
    chromium: str | None = None,
) -> Rendered:
    """Render ``body`` in headless Chromium; optionally save the first screen and full page."""
    from tools.cdp import Browser, BrowserError, find_chromium

    executable = chromium or find_chromium()
    if executable is None:
        raise SetupError("no Chromium found: apt-get install chromium (or set CHROME_BIN)")
    fetch_assets()
    page = workdir / "issue.html"
    page.write_text(page_html(body, title=title, closed=closed), encoding="utf-8")
    with Browser(executable) as browser:
        session = browser.open(page.as_uri(), width=WIDTH, height=FIRST_SCREEN, scale=SCALE)
        seen = browser.evaluate(session, "window.goldenPathReady")
        if not isinstance(seen, dict):
            raise BrowserError(f"the page reported {seen!r} instead of what it shows")
        rendered = Rendered(
            charts=seen["charts"],
            errors=seen["errors"],
            first_screen=seen["firstScreen"],
            height=int(seen["height"]),
        )
        if first_screen_png is not None:
            png = browser.screenshot(session, width=WIDTH, height=FIRST_SCREEN)
            first_screen_png.write_bytes(png)
        if full_png is not None:
            # the whole page at one device pixel per CSS pixel keeps the file small
            browser.call(
                "Emulation.setDeviceMetricsOverride",
                session,
                width=WIDTH,
                height=FIRST_SCREEN,
                deviceScaleFactor=1,
                mobile=False,
            )
            full_png.write_bytes(browser.screenshot(session, width=WIDTH, height=rendered.height))
    return rendered


# -- the demo's issues -------------------------------------------------------------------------
@dataclass(frozen=True)
class Issue:
    """The tracking issue as the demo left it."""

    title: str
    body: str
    closed: bool


def demo_issue(workdir: Path, runs: Sequence[Sequence[str]]) -> Issue:
    """Run ``golden-path demo`` once per entry of ``runs`` (one session); the issue after."""
    from bot.demo import demo_config
    from bot.session import read_state

    out = workdir / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GOLDEN_PATH_"))}
    env["GOLDEN_PATH_PROGRESS"] = "off"
    for extra in runs:
        argv = [sys.executable, "-m", "bot.cli", "demo", "--out", str(out), *extra]
        proc = subprocess.run(
            argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=300
        )
        expected = 1 if "--fault" in extra else 0
        if proc.returncode != expected:
            raise RuntimeError(
                f"{' '.join(argv[2:])} exited {proc.returncode}, expected {expected}:\n"
                f"{proc.stdout}{proc.stderr}"
            )
    body = (out / "tracking-issue.md").read_text(encoding="utf-8")
    state = read_state(body)
    config = demo_config(base_url="", auth_url="", sessions=1)
    title = config["tracking"]["title"].format(environment=config["environment"])
    return Issue(title=title, body=body, closed=bool(state and state.closed_at))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.screenshots",
        description="Render the demo's tracking issue (blocked, then passing) into PNGs.",
    )
    parser.add_argument("--out", type=Path, default=DOCS, help="directory for the PNGs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="golden-path-shots-") as tmp:
        work = Path(tmp)
        shots = (
            (
                "blocked",
                BLOCKED_RUNS,
                "tracking-issue-blocked.png",
                "tracking-issue-blocked-full.png",
            ),
            ("passing", PASSING_RUNS, None, "tracking-issue-passing-full.png"),
        )
        for name, runs, first, full in shots:
            workdir = work / name
            workdir.mkdir()
            issue = demo_issue(workdir, runs)
            rendered = render(
                issue.body,
                workdir,
                title=issue.title,
                closed=issue.closed,
                first_screen_png=args.out / first if first else None,
                full_png=args.out / full,
            )
            if rendered.errors or not all(rendered.charts):
                raise RuntimeError(f"{name}: a chart did not draw: {rendered.errors}")
            for path in (first, full):
                if path:
                    print(f"wrote {args.out / path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SetupError as exc:
        sys.stderr.write(f"screenshots: {exc}\n")
        sys.exit(2)
