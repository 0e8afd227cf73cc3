"""Progress output: mode selection (bar on a TTY, lines in CI or piped, never both) and
what each mode writes, with fake streams and a fake clock."""

from __future__ import annotations

import io

import pytest

from bot.progress import Progress, mode_for


class FakeStream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class ClosedStream:
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("tty", "env", "expected"),
    [
        (True, {}, "bar"),
        (False, {}, "lines"),
        (True, {"GITHUB_ACTIONS": "true"}, "lines"),
        (True, {"CI": "1"}, "lines"),
        (True, {"CI": "true"}, "lines"),
        (True, {"CI": "false"}, "bar"),
        (True, {"CI": "0"}, "bar"),
        (True, {"GOLDEN_PATH_PROGRESS": "off"}, "off"),
        (False, {"GOLDEN_PATH_PROGRESS": "bar"}, "bar"),
        (True, {"GOLDEN_PATH_PROGRESS": "lines"}, "lines"),
        (True, {"GOLDEN_PATH_PROGRESS": "OFF "}, "off"),
        (True, {"GOLDEN_PATH_PROGRESS": "bar", "GITHUB_ACTIONS": "true"}, "bar"),
        (False, {"GOLDEN_PATH_PROGRESS": "sparkles"}, "lines"),  # unknown: auto
        (True, {"GOLDEN_PATH_PROGRESS": ""}, "bar"),
    ],
)
def test_mode_selection(tty: bool, env: dict[str, str], expected: str) -> None:
    assert mode_for(FakeStream(tty), env) == expected


def test_streams_without_a_working_isatty_get_lines() -> None:
    assert mode_for(object(), {}) == "lines"
    assert mode_for(ClosedStream(), {}) == "lines"


def test_mode_follows_the_environment_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mode comes from the settings' environment, never from the process's own."""
    monkeypatch.setenv("GOLDEN_PATH_PROGRESS", "off")
    assert Progress("x", stream=FakeStream(True)).mode == "bar"
    assert Progress("x", stream=FakeStream(True), env={"GOLDEN_PATH_PROGRESS": "off"}).mode == "off"
    assert Progress("x", stream=FakeStream(True), env={"GITHUB_ACTIONS": "true"}).mode == "lines"


def test_bar_on_a_terminal_redraws_per_percent_and_never_prints_lines() -> None:
    out, clock = FakeStream(True), Clock()
    progress = Progress("golden path", stream=out, clock=clock, env={})
    assert progress.mode == "bar"
    for done in range(1, 1001):
        clock.now += 1.0  # plenty of time passes: a line mode would print
        progress(done, 1000)
    text = out.getvalue()
    assert text.count("\r") == 101  # once per percent (0..100), not once per session
    assert text.count("\n") == 1 and text.endswith(" 1000/1000 done\n")  # only the last one ends
    assert "(" not in text  # no rate lines
    last = text.rsplit("\r", 1)[1]
    assert last == "golden path " + "█" * 30 + " 1000/1000 done\n"
    progress(1000, 1000)  # a repeated final call draws nothing more
    assert out.getvalue() == text


def test_bar_close_ends_an_unfinished_line() -> None:
    out = FakeStream(True)
    progress = Progress("gp", stream=out, env={})
    progress(3, 10)
    assert out.getvalue() == "\rgp " + "█" * 9 + "·" * 21 + " 3/10 done"
    progress.close()
    assert out.getvalue().endswith(" 3/10 done\n")
    progress.close()  # idempotent
    assert out.getvalue().count("\n") == 1


def test_lines_in_ci_every_interval_and_at_the_end_never_a_bar() -> None:
    out, clock = FakeStream(True), Clock()
    progress = Progress("golden path", stream=out, clock=clock, env={"GITHUB_ACTIONS": "true"})
    assert progress.mode == "lines"
    for done in range(1, 101):
        clock.now += 0.2  # 20 s in all, interval 5 s
        progress(done, 100)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines == [
        "golden path: 25/100 done (5/s)",
        "golden path: 50/100 done (5/s)",
        "golden path: 75/100 done (5/s)",
        "golden path: 100/100 done (5/s)",
    ]
    progress(100, 100)
    assert len(out.getvalue().splitlines()) == 4  # the final line once
    progress.close()  # nothing to end in lines mode
    assert len(out.getvalue().splitlines()) == 4


def test_lines_for_a_fast_run_print_only_the_final_line() -> None:
    out, clock = FakeStream(False), Clock()
    progress = Progress("gp", stream=out, clock=clock, interval_s=5.0, env={})
    for done in range(1, 501):
        progress(done, 500)  # the clock never moves
    assert out.getvalue() == "gp: 500/500 done\n"


def test_off_writes_nothing() -> None:
    out = FakeStream(True)
    progress = Progress("gp", stream=out, env={"GOLDEN_PATH_PROGRESS": "off"})
    for done in range(11):
        progress(done, 10)
    progress.close()
    assert out.getvalue() == ""


def test_explicit_mode_and_degenerate_counts() -> None:
    out = FakeStream(False)
    progress = Progress("gp", stream=out, mode="bar", env={})
    progress(0, 0)  # nothing to do: nothing drawn
    progress(12, 10)  # over the total: clamped
    assert out.getvalue().endswith(" 10/10 done\n")
    assert Progress("gp", stream=out, mode="nonsense", env={}).mode == "lines"


def test_done_and_passed_are_never_confused() -> None:
    """With the pass count known, a line says "done" and "passed" apart: 100/100 done, 0 passed."""
    out, clock = FakeStream(False), Clock()
    progress = Progress("golden path", stream=out, clock=clock, env={"CI": "true"})
    clock.now += 10
    progress(100, 100, 0)
    assert out.getvalue() == "golden path: 100/100 done, 0 passed (10/s)\n"
