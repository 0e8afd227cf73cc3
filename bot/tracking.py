"""Tracker-agnostic update of a tracking issue body: read state, fold in a run, re-render.

The local file tracker and the GitHub tracker both call :func:`apply`; they differ only in
how a body is read and written, so the rules (people's text survives, a damaged state is
rebuilt not fatal, every run is recorded) live here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import history
from bot.checks import iteration_from_dict
from bot.config import Config
from bot.issue_format import (
    SHRINK_STEP,
    STATE_BUDGET,
    damaged_region,
    owned_budget,
    owned_region,
    replace_owned,
)
from bot.results import Iteration
from bot.session import (
    LogEntry,
    SessionState,
    StateError,
    StateForged,
    read_state,
    reconcile,
    salvage_state,
)
from bot.verdict import Verdict, judge

#: Log entries kept in the state block; older ones move to archives (comments, files).
STATE_LOG_KEEP = 200
_ID_COST = 15  # characters an archived entry's id takes in the state block


@dataclass(slots=True)
class Update:
    body: str
    state: SessionState
    verdict: Verdict
    changed: bool
    warnings: list[str] = field(default_factory=list)
    to_archive: list[LogEntry] = field(default_factory=list)
    run_id: str = ""  # the id this run was recorded under ("" for re-renders)
    key: bytes | None = None  # signs the state block
    docs_url: str = ""


def load_state(
    body: str, environment: str, warnings: list[str], key: bytes | None = None
) -> SessionState:
    """The body's state, or a fresh one; a damaged block is reported and rebuilt.

    A forged block (bad signature) is reported and dropped whole: salvaging it would keep
    what the forger wrote.
    """
    if owned_region(body or "") is None and damaged_region(body or "") is not None:
        warnings.append(
            "a marker line of the bot's section was deleted by hand; the section was restored "
            "from what remained"
        )
    try:
        state = read_state(body, key)
    except StateForged as exc:
        warnings.append(f"{exc}; starting a fresh history")
        state = SessionState(environment=environment)
        state.add_log(f"{exc}: the session history was discarded", "warning")
        return state
    except StateError as exc:
        salvaged = salvage_state(body, environment)
        state = salvaged or SessionState(environment=environment)
        kept = (
            f"{len(state.iterations)} iteration(s) and {len(state.log)} log entries recovered"
            if salvaged is not None
            else "nothing could be recovered"
        )
        warnings.append(f"state block damaged ({exc}); rebuilt from what could be read: {kept}")
        state.add_log(f"state block was damaged and has been rebuilt ({kept}): {exc}", "warning")
        return state
    if state is not None and warnings:
        state.add_log(warnings[-1], "warning")
    return state or SessionState(environment=environment)


def shown_iteration(state: SessionState, environment: str) -> Iteration:
    """The iteration a re-render shows: the stored last one, or an empty one."""
    if state.last_iteration:
        return iteration_from_dict(state.last_iteration)
    return Iteration(environment=environment, started_at=state.started_at)


def apply(
    body: str,
    cfg: Config,
    *,
    iteration: Iteration | None,
    verdict: Verdict | None = None,
    run_log: Sequence[LogEntry] = (),
    issue: Mapping[str, Any] | None = None,
    pending: SessionState | None = None,
    mutate: Callable[[SessionState], None] | None = None,
    keep_log: int = STATE_LOG_KEEP,
    key: bytes | None = None,
    gather: Callable[[SessionState, Iteration, Verdict], None] | None = None,
    docs_url: str = "",
    render: bool = True,
) -> Update:
    """New body for ``body`` after this run.

    With an ``iteration`` (and its ``verdict``), the run is recorded. Without one the body
    is re-rendered from the stored last iteration (``/status``, ``/why``), judged once here.
    ``pending`` is state a previous run could not publish; it is reconciled first.
    ``render=False`` records the run but leaves ``body`` as it was, for a caller that
    shows neither the body nor the evidence behind it (``--tracker none`` outside Actions).
    """
    warnings: list[str] = []
    state = load_state(body, cfg.environment, warnings, key)
    if pending is not None:
        state = reconcile(state, pending)
    for entry in run_log:
        if all(entry.id != e.id for e in state.log):
            state.log.append(entry)
    state.forget_old_archive_ids()
    if mutate is not None:
        mutate(state)
    run_id = ""
    if iteration is not None:
        shown = iteration
        verdict = verdict or judge(iteration, cfg)
        run_id = history.record(
            state, iteration, verdict, close_on_green=cfg.tracking.close_on_green
        )
        if gather is not None and render:  # a new blocker's evidence: changes, logs
            gather(state, iteration, verdict)
    else:
        shown = shown_iteration(state, cfg.environment)
        verdict = judge(shown, cfg)
    # Archive with hysteresis: down to half of each limit, so the runs that follow add
    # entries for a while without posting an archive comment every time.
    to_archive: list[LogEntry] = []
    if len(state.log) > keep_log:
        to_archive = state.archive_oldest(keep_log // 2)
    if not render:
        return Update(body, state, verdict, False, warnings, to_archive, run_id, key, docs_url)

    text = state.to_json()  # serialising the state is the costly part: once, if it fits
    if len(text) + _ID_COST * len(to_archive) > STATE_BUDGET:
        keep = len(state.log)
        # the archives will also list the ids of what moves now
        while keep > 0 and len(text) + _ID_COST * len(to_archive) > STATE_BUDGET // 2:
            keep //= 2  # long entries: keep fewer in the body, the rest go to the archive
            to_archive += state.archive_oldest(keep)
            text = state.to_json()
    from bot import report  # templates load only for a body someone reads

    budget = owned_budget(body)
    owned = report.owned_section(
        cfg,
        state,
        shown,
        verdict,
        issue=issue,
        budget=budget,
        key=key,
        state_json=text,
        docs_url=docs_url,
    )
    new_body = replace_owned(body, owned)
    return Update(
        new_body, state, verdict, new_body != body, warnings, to_archive, run_id, key, docs_url
    )


def rerender(
    cfg: Config,
    upd: Update,
    *,
    issue: Mapping[str, Any] | None = None,
    base_body: str | None = None,
    shrink: int = 0,
) -> str:
    """``upd``'s state and verdict rendered again into ``base_body`` (default: its own body).

    For what changes the state after :func:`apply` — archives posted, another run's entries
    reconciled — and for a smaller body when GitHub refuses one as too long (``shrink``).
    """
    base = upd.body if base_body is None else base_body
    it = shown_iteration(upd.state, cfg.environment)
    from bot import report

    budget = owned_budget(base) - SHRINK_STEP * shrink
    owned = report.owned_section(
        cfg,
        upd.state,
        it,
        upd.verdict,
        issue=issue,
        budget=budget,
        key=upd.key,
        docs_url=upd.docs_url,
    )
    return replace_owned(base, owned)
