"""Findings of the independent security review, each pinned by the attack that found it.

Every test names its finding ("Finding N: …") and failed on the code before the fix.
Finding 3 (the workflows) lives in ``test_workflow_hardening.py`` next to the audit, and
finding 11 also runs end to end in ``test_permissions.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import redact
from bot.checks.http import run_http_checks, validate_token
from bot.cli import main
from bot.config import ConfigError, Deploy, load_config
from bot.deploy import MATCH_OVERLAP, MATCH_WINDOW, UrlFinder, deploy, run_command, wait_for_health
from bot.redact import MASK
from bot.results import Kind
from bot.trigger import parse_commands

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "tests" / "data" / "configs"
GOLDEN_PATH = str(Path(sys.executable).parent / "golden-path")


# -- Finding 12: YAML alias bomb ------------------------------------------------------------
def alias_bomb(levels: int) -> str:
    """A few hundred bytes under the documented ``x-`` anchor keys; 9**levels leaves."""
    lines = ["x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"x-a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    # the unfixed loader took 2.2 GB (6 levels) and 10 GB (7): fail there, not in the machine
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("levels", [6, 7])
def test_alias_bomb_is_refused_fast_with_exit_2(tmp_path: Path, levels: int) -> None:
    """Finding 12: a 6- or 7-level alias bomb is a config error (exit 2) within a second."""
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(alias_bomb(levels), encoding="utf-8")
    assert len(bomb.read_bytes()) < 500
    started = time.perf_counter()
    result = subprocess.run(
        [GOLDEN_PATH, "run", "--config", str(bomb), "--tracker", "none"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=_limit_memory,
        env={**os.environ, "GOLDEN_PATH_PROGRESS": "off"},
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 2, result.stderr
    assert "configuration error" in result.stderr
    assert "aliases expand to more than 10,000 values" in result.stderr
    # x-a4 (line 5) is the first anchor past the bound: 9**4 leaves plus their lists
    assert f"{bomb}:5:" in result.stderr, "points at the first anchor that grows too big"
    assert "Traceback" not in result.stderr
    # interpreter start and imports included; the unfixed loader took 14 s and more
    assert elapsed < 5.0, elapsed


def test_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    """Finding 12: load_config refuses the 7-level bomb in well under a second."""
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(alias_bomb(7), encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(bomb)
    assert time.perf_counter() - started < 0.5
    assert "write the values out" in str(info.value), "the message says how to fix it"


def test_self_referencing_alias_is_a_config_error(tmp_path: Path) -> None:
    """Finding 12: an anchor that contains its own alias is refused, not a RecursionError."""
    path = tmp_path / "loop.yml"
    path.write_text("x-a: &a [1, *a]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:1:")
    assert "contains itself" in str(info.value)
    assert "only outside the anchored value" in str(info.value)


def test_legitimate_anchors_still_load() -> None:
    """Finding 12: the bound leaves ordinary anchors and merge keys alone."""
    config = load_config(CONFIGS / "anchors.yml")
    assert [h.timeout for h in config.checks.health] == [5.0, 7.0]


def test_a_large_config_without_aliases_is_not_refused(tmp_path: Path) -> None:
    """Finding 12: the bound is on expansion, so many plain keys stay fine."""
    probes = "".join(f"    - {{name: p{i}, url: /p{i}}}\n" for i in range(2000))
    path = tmp_path / "big.yml"
    path.write_text(f"checks:\n  health:\n{probes}", encoding="utf-8")
    assert len(load_config(path).checks.health) == 2000


# -- Finding 11: commands readers cannot see ---------------------------------------------------
INVISIBLE = {
    "comment-opened-mid-line": "Thanks, looks good <!--\n/deploy\n-->\n",
    "comment-opened-mid-line-crlf": "Thanks <!-- note\r\n/deploy\r\n-->\r\n",
    "comment-after-a-closed-one": "<!-- a --> and <!--\n/deploy\n-->\n",
    "comment-across-blank-lines": "ok <!--\n\n/deploy\n\n-->\n",
    "comment-never-closed": "fine by me <!--\n/deploy\n",
    "multi-line-link-title": 'See [the docs](https://example.com "docs\n/deploy\n") please\n',
    "multi-line-image-title": "![chart](https://example.com/c.png 'chart\n/deploy\n')\n",
    "link-destination-on-next-line": "[docs](\n/deploy\n)\n",
    "reference-definition-destination": "[docs]:\n/deploy\n",
    "reference-definition-title": '[docs]: https://example.com "t\n/deploy\n"\n',
    "pre-block": "<pre>\n/deploy\n</pre>\n",
    "pre-block-with-blank-lines": "<pre>\n\n/deploy\n\n</pre>\n",
    "pre-inline": "see <pre>\n/deploy\n</pre>\n",
    "textarea": "<textarea>\n\n/deploy\n</textarea>\n",
    "html-attribute": 'hi <span title="\n/deploy\n">x</span>\n',
    "html-block-attribute": '<div title="\n\n/deploy\n\n">x</div>\n',
    "html-block": "<div>\n/deploy\n</div>\n",
    "multi-line-code-span": "run `make\n/deploy\n` locally\n",
    "lazy-quote-continuation": "> quoted\n/deploy\n",
    "u2028": "Looks fine\u2028/deploy\n",
    "u2029": "Looks fine\u2029/deploy\n",
    "record-separator": "Looks fine\x1e/deploy\n",
    "next-line-c1": "Looks fine\x85/deploy\n",
    "file-group-unit-separators": "a\x1c/deploy\nb\x1d/deploy\nc\x1f/deploy\n",
    "vertical-tab-form-feed": "a\x0b/deploy\nb\x0c/deploy\n",
    "lone-carriage-return": "Looks fine\r/deploy\n",
    "separator-as-indent": "\x1e/deploy\n\u2028/deploy\n",
}


@pytest.mark.parametrize("body", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_commands_readers_cannot_see_are_not_commands(body: str) -> None:
    """Finding 11: text rendered hidden, as code, a quote or raw HTML carries no command."""
    assert parse_commands(body) == []


VISIBLE = {
    "plain": ("/retest", [("retest", (), "")]),
    "why-with-text": (
        "/why 2 the token expired",
        [("why", ("2", "the", "token", "expired"), "2 the token expired")],
    ),
    "several": (
        "/retest all\nthanks!\n/why 3 clock skew\n/help\n",
        [
            ("retest", ("all",), "all"),
            ("why", ("3", "clock", "skew"), "3 clock skew"),
            ("help", (), ""),
        ],
    ),
    "crlf": (
        "/retest agent-flow\r\n/status\r\n",
        [("retest", ("agent-flow",), "agent-flow"), ("status", (), "")],
    ),
    "after-a-closed-comment": ("<!-- bot: ignore -->\n\n/status", [("status", (), "")]),
    "after-a-link": ('See [run](https://x.example/1 "t").\n/retest', [("retest", (), "")]),
    "after-code-span": ("`<!--` is how\n/retest", [("retest", (), "")]),
    "after-escaped-comment": ("type \\<!-- here\n/retest", [("retest", (), "")]),
    "after-a-closed-pre": ("<pre>\nlog\n</pre>\n\n/retest", [("retest", (), "")]),
    "after-comparison": ("p95 < 2s and a<b\n/retest", [("retest", (), "")]),
    "after-inline-tag": ("<b>bold</b> text\n/retest", [("retest", (), "")]),
    "why-answer-keeps-visible-text-only": (
        "/why 2 clock skew <!-- not this -->",
        [("why", ("2", "clock", "skew"), "2 clock skew")],
    ),
}


@pytest.mark.parametrize(("body", "expected"), VISIBLE.values(), ids=VISIBLE.keys())
def test_visible_commands_still_parse(body: str, expected: list[tuple]) -> None:
    """Finding 11: ordinary commands, several per comment and CRLF endings still parse."""
    assert [(c.name, c.args, c.text) for c in parse_commands(body)] == expected
    assert all("\r" not in c.raw for c in parse_commands(body))


# -- Finding 4: encoded secrets --------------------------------------------------------------
# a secret with every character class an encoder treats specially (quote, backslash, slash,
# plus, space, non-ASCII), so each encoded form differs from the secret itself
ODD_SECRET = 'dq"bs\\sl/pl+sp ac\u00e9-Zx9Yw8Vu7'


def encodings(secret: str) -> dict[str, tuple[str, int]]:
    """name → (text carrying the secret encoded, characters of it that may stay visible).

    Inside a longer base64 blob the characters where the secret meets its neighbours
    encode both: up to three before it, and after it up to four (with one byte after the
    secret: a shared character, the neighbour's own and the padding).
    """
    raw = secret.encode()
    b64, url = base64.b64encode, base64.urlsafe_b64encode
    forms = {
        "base64": (b64(raw).decode(), 0),
        "base64-unpadded": (b64(raw).decode().rstrip("="), 0),
        "base64url": (url(raw).decode(), 0),
        "base64url-unpadded": (url(raw).decode().rstrip("="), 0),
        "hex": (raw.hex(), 0),
        "HEX": (raw.hex().upper(), 0),
        "percent": (urllib.parse.quote(secret, safe=""), 0),
        "percent-plus": (urllib.parse.quote_plus(secret), 0),
        "percent-lowercase": (
            re.sub("%..", lambda m: m[0].lower(), urllib.parse.quote(secret, safe="")),
            0,
        ),
        "json": (json.dumps(secret)[1:-1], 0),
        "json-unicode": (json.dumps(secret, ensure_ascii=False)[1:-1], 0),
    }
    for offset in range(3):
        blob = b"{" * offset + raw + b"}"
        forms[f"base64-in-a-blob-at-{offset}"] = (b64(blob).decode(), 4)
        forms[f"base64url-in-a-blob-at-{offset}"] = (url(blob).decode(), 4)
    return forms


ENCODINGS = encodings(ODD_SECRET)


@pytest.mark.parametrize(("encoded", "leftover"), ENCODINGS.values(), ids=ENCODINGS.keys())
def test_encoded_forms_of_a_secret_are_masked(encoded: str, leftover: int) -> None:
    """Finding 4: base64 (std/url, padded or not, at every offset), hex, percent, JSON."""
    redact.register(ODD_SECRET)
    out = redact.redact(f"pushing {encoded} done")
    assert out.startswith("pushing ") and out.endswith(" done")
    pieces = out.removeprefix("pushing ").removesuffix(" done").split(MASK)
    assert len(pieces) > 1, out
    assert max(map(len, pieces)) <= leftover, out


def test_docker_config_auth_is_masked() -> None:
    """Finding 4: ``.dockerconfigjson``'s auth, base64("user:secret"), hides the secret."""
    secret = "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2"
    redact.register(secret)
    for user in ("ci", "bot", "ci-bot"):  # the three offsets the secret can start at
        auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
        config = json.dumps({"auths": {"registry.example.com": {"auth": auth}}})
        out = redact.redact(config)
        shown = json.loads(out)["auths"]["registry.example.com"]["auth"]
        head, _, tail = shown.partition(MASK)
        assert MASK in shown and len(tail) <= 3, shown
        assert len(head) <= len(base64.b64encode(f"{user}:".encode())) + 1, shown


def test_short_secrets_do_not_shred_text() -> None:
    """Finding 4: encoded forms under eight characters are not masked, so text survives."""
    redact.register("qwe%ty")
    assert all(len(form) >= 8 for form in redact.encoded_forms("qwe%ty"))
    # base64 and hex of its halves, the percent-encoded sign, and ordinary text
    text = "cXdl JXR5 717765 qwe%25 the quick brown fox, sha256:" + "0123456789abcdef" * 4
    assert redact.redact(text) == text


def test_encoded_secret_reaches_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Finding 4: a deploy printing the secret encoded leaks it to no issue, summary or file."""
    monkeypatch.chdir(tmp_path)
    forms = [text for text, _ in ENCODINGS.values()]
    # three lines, the last three of the log: what the issue shows as the blocker's evidence
    lines = [" ".join(forms[i::3]) for i in range(3)]
    (tmp_path / "deploy.sh").write_text(
        "cat <<'EOF'\n" + "\n".join(lines) + "\nEOF\nexit 3\n", encoding="utf-8"
    )
    (tmp_path / "gp.yml").write_text(
        "deploy: {command: sh deploy.sh, url: 'http://127.0.0.1:9'}\n"
        "checks: {health: [], agent_flow: null}\n",
        encoding="utf-8",
    )
    for key, value in {
        "DEPLOY_API_KEY": ODD_SECRET,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GOLDEN_PATH_PROGRESS": "off",
    }.items():
        monkeypatch.setenv(key, value)
    assert main(["run", "--config", "gp.yml", "--tracker", "local:issue.md"]) == 1
    out, err = capfd.readouterr()
    texts = {
        name: (tmp_path / name).read_text(encoding="utf-8")
        for name in ("issue.md", "summary.md", ".golden-path/results.json")
    }
    assert "exited with 3" in texts["issue.md"]
    texts["console"] = "\n".join(
        line for line in (out + err).splitlines() if not line.startswith("::add-mask::")
    )
    results = json.loads(texts[".golden-path/results.json"])
    assert len(results["deploy"]["log"]) == 3
    for where, text in texts.items():
        for name, (encoded, leftover) in ENCODINGS.items():
            inner = encoded[leftover : len(encoded) - leftover]
            assert inner not in text, f"{name} leaked into {where}"
    assert texts["issue.md"].count(MASK) >= len(ENCODINGS), "the evidence was there, masked"


# -- Finding 8: HTTP checks have no overall deadline ------------------------------------------
class DripServer:
    """HTTP on loopback whose answer never ends: the status line, then headers or body one
    byte every 100 ms (``drip``), or an endless body as fast as it goes (``flood``).

    ``closed`` is set once the client has hung up on every connection it opened.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/health"
        self.stop = threading.Event()
        self.closed = threading.Event()
        self.open = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.open += 1
                self.closed.clear()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                if self.mode == "headers":
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    while not self.stop.wait(0.1):  # the drip's pace, not a synchronisation
                        conn.sendall(b"X")
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                if self.mode == "flood":
                    while not self.stop.is_set():
                        conn.sendall(b"4000\r\n" + b"x" * 0x4000 + b"\r\n")
                while not self.stop.wait(0.1):
                    conn.sendall(b"1\r\nx\r\n")
            except OSError:
                pass  # the client hung up: what the tests wait for
            finally:
                with self.lock:
                    self.open -= 1
                    if self.open == 0:
                        self.closed.set()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture(params=["body", "headers"])
def drip(request: pytest.FixtureRequest) -> Iterator[DripServer]:
    server = DripServer(request.param)
    yield server
    server.close()


@pytest.fixture
def flood() -> Iterator[DripServer]:
    server = DripServer("flood")
    yield server
    server.close()


def _timed(coro: Any) -> tuple[Any, float, set[asyncio.Task[Any]]]:
    """Run ``coro`` (with a guard far beyond any deadline); its result, seconds, and the
    tasks still alive when it returned."""

    async def main() -> tuple[Any, float, set[asyncio.Task[Any]]]:
        started = time.perf_counter()
        result = await asyncio.wait_for(coro, 20)
        elapsed = time.perf_counter() - started
        return result, elapsed, asyncio.all_tasks() - {asyncio.current_task()}

    return asyncio.run(main())


def test_a_dripping_health_check_ends_at_its_timeout(drip: DripServer) -> None:
    """Finding 8: a health check whose answer drips forever ends at its timeout as TIMEOUT."""
    spec = {"name": "Infrastructure Health", "url": drip.url, "timeout": 1.0}
    (check,), elapsed, alive = _timed(run_http_checks([spec], []))
    assert check.kind is Kind.TIMEOUT and not check.ok
    assert check.error == "no complete answer within 1s"
    assert 0.9 < elapsed < 2.0, elapsed  # its 1 s timeout, plus room for a busy machine
    assert alive == set()
    assert drip.closed.wait(2.0), "the connection was dropped, not left dripping"


def test_a_dripping_auth_service_ends_at_its_timeout(drip: DripServer) -> None:
    """Finding 8: the token validation call has the same overall deadline."""
    check, elapsed, alive = _timed(validate_token(drip.url, "token", timeout_s=1.0))
    assert check.kind is Kind.TIMEOUT
    assert 0.9 < elapsed < 2.0, elapsed  # its 1 s timeout, plus room for a busy machine
    assert alive == set()
    assert drip.closed.wait(2.0)


def test_a_dripping_deploy_health_poll_ends_at_its_timeout(drip: DripServer) -> None:
    """Finding 8: the deploy's health poll ends by health_timeout, whatever one poll does.

    Only the status counts, so a dripping body is a healthy answer at once; dripping
    headers never give a status and the poll gives up at the deadline.
    """
    logged: list[str] = []
    (latency, error), elapsed, alive = _timed(
        wait_for_health(
            drip.url, timeout_s=1.0, interval_s=0.2, log=lambda text, level: logged.append(text)
        )
    )
    if drip.mode == "body":
        assert latency is not None and error == ""
        assert elapsed < 1.0, elapsed  # the first poll's answer, not the 1 s deadline
    else:
        assert latency is None
        assert error == "no complete answer within 1s"
        assert 0.9 < elapsed < 2.0, elapsed  # its 1 s timeout, plus room for a busy machine
    assert alive == set()
    assert drip.closed.wait(2.0)


def test_an_endless_body_is_read_only_up_to_the_cap(flood: DripServer) -> None:
    """Finding 8: a body that never ends is read up to 64 KiB: the status counts, promptly."""
    spec = {"name": "Infrastructure Health", "url": flood.url, "timeout": 5.0}
    (check,), elapsed, alive = _timed(run_http_checks([spec], []))
    assert check.ok and check.status == 200, check.error
    assert elapsed < 5.0, elapsed  # ended by the cap, not by its 5 s timeout
    assert alive == set()
    assert flood.closed.wait(2.0)


# -- Finding 9: url_from_output can block the deploy timeout ----------------------------------
OLD_README_PATTERN = r"https://\S+\.run\.app"
LONG_LINE = "https://" * 32768  # 256 KiB without a space: \S+ backtracks over all of it


def _deploy(cfg: Deploy) -> tuple[Any, list[tuple[str, str]], float]:
    logged: list[tuple[str, str]] = []
    started = time.perf_counter()
    result = asyncio.run(
        deploy(cfg, log=lambda text, level: logged.append((text, level)), resolve=lambda p, u: u)
    )
    return result, logged, time.perf_counter() - started


def _printing(*lines: str, then: str = "") -> str:
    """A deploy command printing ``lines`` (from a file, so no shell quoting), then ``then``."""
    path = Path.cwd() / "deploy-output.txt"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return f"cat {path}" + (f"; {then}" if then else "")


def test_a_backtracking_pattern_on_a_long_line_does_not_hold_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 9: the old README pattern on a 256 KiB line: a 2 s timeout ends it by ~3 s."""
    monkeypatch.chdir(tmp_path)
    cfg = Deploy(
        command=_printing(LONG_LINE, then="exec sleep 60"),
        url_from_output=OLD_README_PATTERN,
        timeout="2s",
    )
    result, _, elapsed = _deploy(cfg)
    assert result.kind is Kind.DEPLOY_FAILED
    assert result.error == "deploy command timed out after 2s"
    assert elapsed < 3.0, elapsed


def test_group_1_is_the_url_when_the_pattern_has_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 9: a pattern anchored on context takes group 1 as the URL, else the match."""
    monkeypatch.chdir(tmp_path)
    lines = ("Building...", "Service URL: http://127.0.0.1:9/ (ready)")
    for pattern, url in (
        (r"Service URL: (http://[^\s/]+)", "http://127.0.0.1:9"),
        (r"http://[^\s/]+", "http://127.0.0.1:9"),
    ):
        cfg = Deploy(command=_printing(*lines), url_from_output=pattern, health_timeout="10ms")
        result, _, _ = _deploy(cfg)
        assert result.url == url


def test_a_pattern_that_never_matched_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 9: no match is a deploy-config problem naming the pattern and the lines tried."""
    monkeypatch.chdir(tmp_path)
    redact.register("hunter2-deploy-secret")
    lines = ("step 1", "step 2", "using hunter2-deploy-secret", "", "Deployed to staging.")
    cfg = Deploy(command=_printing(*lines), url_from_output=r"https://[^\s/]+\.run\.app")
    result, logged, _ = _deploy(cfg)
    assert not result.ok
    assert result.kind is Kind.CONFIG_ERROR
    assert result.error == (
        r"deploy.url_from_output 'https://[^\s/]+\.run\.app' matched no line of the deploy "
        "output (last lines tried: step 2 | using *** | Deployed to staging.) — fix the "
        "pattern (the URL is group 1 if it has groups, else the whole match), or set deploy.url"
    )
    assert (result.error, "error") in logged


def test_the_readme_pattern_is_linear() -> None:
    """Finding 9: the README's example finds a Cloud Run URL and stays fast on a long line."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- section:config -->")[1].split("```yaml\n")[1].split("```")[0]
    pattern = re.compile(yaml.safe_load(block)["deploy"]["url_from_output"])
    line = "Service URL: https://api-7x2k-uc.a.run.app (100% traffic)"
    assert pattern.search(line)[0] == "https://api-7x2k-uc.a.run.app"  # type: ignore[index]
    started = time.perf_counter()
    assert pattern.search(LONG_LINE) is None
    assert time.perf_counter() - started < 0.2


def test_a_url_across_a_window_edge_is_found_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 9: long lines are searched in windows, yet a URL on an edge comes out whole."""
    monkeypatch.chdir(tmp_path)
    url = "https://api-7x2k-uc.a.run.app"
    # where windows end while nothing matched: each starts MATCH_OVERLAP before the last end
    edges = [MATCH_WINDOW + k * (MATCH_WINDOW - MATCH_OVERLAP) for k in (0, 2, 39)]
    for edge in edges:
        cases = (
            (r"https://[a-z0-9.-]+\.run\.app", "x" * (edge - 10) + f" {url} and more", url),
            # ``$`` is the line's end, never the end of a window
            (r"y+$", "x" * (edge - 50) + " " + "y" * 100, "y" * 100),
        )
        for pattern, line, expected in cases:
            result = asyncio.run(
                run_command(
                    _printing(line), timeout_s=10, log=lambda text, level: None, url_pattern=pattern
                )
            )
            assert result.url == expected, (edge, pattern)


def test_a_pattern_too_slow_for_the_output_gives_up_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 9: past its time budget the pattern is dropped with a warning naming the fix."""
    monkeypatch.chdir(tmp_path)
    finder = UrlFinder(OLD_README_PATTERN, budget_s=0.05)
    logged: list[tuple[str, str]] = []
    result = asyncio.run(
        run_command(
            _printing(LONG_LINE, "Service URL: https://api.a.run.app"),
            timeout_s=10,
            log=lambda text, level: logged.append((text, level)),
            url_finder=finder,
        )
    )
    assert result.ok and result.url == "" and finder.gave_up
    assert any(level == "warning" and "gave up" in text for text, level in logged)
    message = finder.error(result.log)
    assert message.startswith(f"deploy.url_from_output '{OLD_README_PATTERN}' gave up after ")
    assert message.endswith(
        "of searching the deploy output without a match — make it linear "
        r"(e.g. [^\s/]+ rather than \S+), or set deploy.url"
    )
