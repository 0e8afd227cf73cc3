"""Property 7: the workflows and the action are hardened — checked by parsing the YAML.

``audit`` reads ``action.yml`` and every ``.github/workflows/*.yml`` and reports each
broken rule: an expression (``${{``) inside any ``run:`` — workflow steps and composite
action steps alike, since event text there becomes shell; no top-level ``permissions:``,
``read-all``/``write-all``, or any write but ``issues: write`` (reads only for ``contents``
and ``actions``); a ``uses:`` (step, composite step or reusable-workflow job) not pinned
to a 40-hex commit SHA or a local ``./`` path (docker images: an ``@sha256:`` digest); an
``issue_comment`` trigger not limited to ``types: [created]`` or a job it can start without
an ``if:`` that excludes pull requests and bots; and any ``pull_request_target`` trigger.

The checker is proven before it is trusted: each planted hazard is a small bad YAML
document that must produce its finding, and a clean document must produce none.

The linters run in ``tests/test_workflows.py`` (not repeated here): ``actionlint`` over the
workflows (plus a planted injection it must catch) and ``zizmor --offline`` over the
workflows and ``action.yml``.

Distinct hazards tried (27 planted, plus the shipped files): 5 expressions in ``run:``,
8 permission shapes, 7 unpinned references, 4 unguarded ``issue_comment`` shapes and
3 ``pull_request_target`` spellings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "action.yml", *sorted((ROOT / ".github" / "workflows").glob("*.yml"))]
SHA = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
DOCKER_DIGEST = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")
# scope -> levels allowed; every other scope may only be "none"
ALLOWED = {
    "issues": {"none", "read", "write"},
    "contents": {"none", "read"},
    "actions": {"none", "read"},
}


def parse(text: str) -> dict[str, Any]:
    """YAML → mapping, with YAML 1.1's ``on: → True`` key put back as ``"on"``."""
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict), "a workflow or action is a mapping"
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def _triggers(doc: dict[str, Any]) -> dict[str, Any]:
    on = doc.get("on")
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


def _steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, step) for every step: composite action steps and every job's steps."""
    if "runs" in doc:
        return [(f"runs.steps[{i}]", s) for i, s in enumerate(doc["runs"].get("steps") or [])]
    return [
        (f"jobs.{name}.steps[{i}]", s)
        for name, job in (doc.get("jobs") or {}).items()
        for i, s in enumerate(job.get("steps") or [])
    ]


def _permissions(where: str, perms: Any) -> list[str]:
    if not isinstance(perms, dict):
        return [f"permissions-broad: {where} is {perms!r}, not a scope map"]
    found = []
    for scope, level in perms.items():
        if level not in ALLOWED.get(scope, {"none"}):
            found.append(f"permissions-excess: {where}: {scope}: {level}")
    return found


def _pinned(uses: str) -> bool:
    return uses.startswith("./") or bool(SHA.match(uses) or DOCKER_DIGEST.match(uses))


def audit(doc: dict[str, Any]) -> list[str]:
    """Every hardening rule ``doc`` (a parsed workflow or action.yml) breaks, one line each."""
    found: list[str] = []
    for where, step in _steps(doc):
        if "${{" in str(step.get("run", "")):
            found.append(f"expression-in-run: {where}")
        uses = step.get("uses")
        if uses is not None and not _pinned(str(uses)):
            found.append(f"unpinned-uses: {where}: {uses}")
    if "runs" in doc:  # an action: no triggers, no token of its own
        return found
    if "permissions" not in doc:
        found.append("permissions-missing: no top-level permissions")
    else:
        found += _permissions("top level", doc["permissions"])
    jobs = doc.get("jobs") or {}
    for name, job in jobs.items():
        if "permissions" in job:
            found += _permissions(f"jobs.{name}", job["permissions"])
        if "uses" in job and not _pinned(str(job["uses"])):
            found.append(f"unpinned-uses: jobs.{name}: {job['uses']}")
    triggers = _triggers(doc)
    if "pull_request_target" in triggers:
        found.append("pull-request-target: runs fork code with the base repository's secrets")
    if "issue_comment" in triggers:
        spec = triggers["issue_comment"] or {}
        if spec.get("types") != ["created"]:
            found.append("issue-comment-types: not limited to types: [created]")
        for name, job in jobs.items():
            cond = " ".join(str(job.get("if", "")).split())
            if not (
                "github.event.issue.pull_request" in cond
                and "github.event.comment.user.type" in cond
            ):
                found.append(
                    f"unguarded-issue-comment: jobs.{name} has no if: excluding PRs and bots"
                )
    return found


# -- the shipped files -----------------------------------------------------------------------
def test_every_file_is_audited() -> None:
    """action.yml and the three workflows are all found, and each has steps to check."""
    names = {p.name for p in FILES}
    assert {"action.yml", "ci.yml", "golden-path.yml", "golden-path-sharded.yml"} <= names
    for path in FILES:
        assert _steps(parse(path.read_text(encoding="utf-8"))), path.name


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_shipped_file_is_hardened(path: Path) -> None:
    """The action and every workflow break no hardening rule (the release job alone writes)."""
    expected = (
        ["permissions-excess: jobs.release: contents: write"] if path.name == "release.yml" else []
    )
    assert audit(parse(path.read_text(encoding="utf-8"))) == expected


# -- the checker catches what it claims to -----------------------------------------------------
def _wf(on: str = "push", permissions: str = "permissions: {contents: read}", job: str = "") -> str:
    job = job or ("    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n")
    return f"on: {on}\n{permissions}\njobs:\n  a:\n{job}"


def _job(*lines: str) -> str:
    """A job body (under ``jobs.a:``) from its lines, indented for the job."""
    return "".join(f"    {line}\n" for line in lines)


def _steps_wf(*steps: str) -> str:
    return _wf(
        job="    runs-on: ubuntu-latest\n    steps:\n" + "".join(f"      - {s}\n" for s in steps)
    )


def _action(*steps: str) -> str:
    body = "".join(f"    - {s}\n" for s in steps)
    return f"name: x\ndescription: y\nruns:\n  using: composite\n  steps:\n{body}"


GUARD = (
    "    if: github.event_name != 'issue_comment' || (!github.event.issue.pull_request"
    " && github.event.comment.user.type != 'Bot')\n"
)
COMMENT_JOB = GUARD + "    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n"

PLANTED = {
    # expressions inside a shell line
    "run-comment-body": (
        _steps_wf('run: echo "${{ github.event.comment.body }}"'),
        "expression-in-run",
    ),
    "run-multiline": (
        _steps_wf("run: |\n          echo ok\n          echo ${{ inputs.suites }}"),
        "expression-in-run",
    ),
    "run-no-spaces": (_steps_wf("run: git checkout ${{github.head_ref}}"), "expression-in-run"),
    "run-in-composite-step": (
        _action("shell: bash\n      run: golden-path --config ${{ inputs.config }}"),
        "expression-in-run",
    ),
    "run-in-second-job": (
        _wf(
            job=_job("runs-on: ubuntu-latest", "steps: [run: ok]")
            + "  b:\n"
            + _job(
                "runs-on: ubuntu-latest", "steps:", "  - run: echo ${{ github.event.issue.title }}"
            )
        ),
        "expression-in-run",
    ),
    # permissions
    "no-permissions": (_wf(permissions=""), "permissions-missing"),
    "write-all": (_wf(permissions="permissions: write-all"), "permissions-broad"),
    "read-all": (_wf(permissions="permissions: read-all"), "permissions-broad"),
    "contents-write": (
        _wf(permissions="permissions: {contents: write, issues: write}"),
        "permissions-excess",
    ),
    "id-token-write": (_wf(permissions="permissions: {id-token: write}"), "permissions-excess"),
    "pull-requests-read": (
        _wf(permissions="permissions: {pull-requests: read}"),
        "permissions-excess",
    ),
    "job-write-all": (
        _wf(job=_job("runs-on: ubuntu-latest", "permissions: write-all", "steps: [run: ok]")),
        "permissions-broad",
    ),
    "job-packages-write": (
        _wf(
            job=_job("runs-on: ubuntu-latest", "permissions: {packages: write}", "steps: [run: ok]")
        ),
        "permissions-excess",
    ),
    # unpinned references
    "tag": (_steps_wf("uses: actions/checkout@v4"), "unpinned-uses"),
    "branch": (_steps_wf("uses: actions/checkout@main"), "unpinned-uses"),
    "short-sha": (_steps_wf("uses: actions/checkout@de0fac2"), "unpinned-uses"),
    "no-ref": (_steps_wf("uses: actions/checkout"), "unpinned-uses"),
    "docker-tag": (_steps_wf("uses: docker://alpine:3.20"), "unpinned-uses"),
    "composite-tag": (_action("uses: actions/setup-python@v5"), "unpinned-uses"),
    "reusable-workflow-branch": (
        _wf(job="    uses: octo/ci/.github/workflows/test.yml@main\n"),
        "unpinned-uses",
    ),
    # issue_comment without its guard
    "comment-job-without-if": (
        _wf(on="{issue_comment: {types: [created]}}"),
        "unguarded-issue-comment",
    ),
    "comment-if-lets-prs-in": (
        _wf(
            on="{issue_comment: {types: [created]}}",
            job="    if: github.event.comment.user.type != 'Bot'\n    runs-on: ubuntu-latest\n"
            "    steps:\n      - run: ok\n",
        ),
        "unguarded-issue-comment",
    ),
    "comment-all-types": (_wf(on="{issue_comment: null}", job=COMMENT_JOB), "issue-comment-types"),
    "comment-in-trigger-list": (_wf(on="[push, issue_comment]"), "unguarded-issue-comment"),
    # pull_request_target in every spelling
    "prt-string": (_wf(on="pull_request_target"), "pull-request-target"),
    "prt-list": (_wf(on="[push, pull_request_target]"), "pull-request-target"),
    "prt-map": (_wf(on="{pull_request_target: {types: [opened]}}"), "pull-request-target"),
}


@pytest.mark.parametrize(("text", "rule"), PLANTED.values(), ids=PLANTED.keys())
def test_planted_hazard_is_caught(text: str, rule: str) -> None:
    """Each small bad document yields the finding for the rule it breaks."""
    findings = audit(parse(text))
    assert any(f.startswith(f"{rule}:") for f in findings), findings


def test_clean_documents_pass() -> None:
    """Pinned, least-privilege, guarded documents (workflow and action) yield no finding."""
    sha = "de0fac2e4500dabe0009e67214ff5f5447ce83dd"
    workflow = _wf(
        on="{push: null, issue_comment: {types: [created]}}",
        permissions="permissions: {contents: read, issues: write, actions: read}",
        job=GUARD
        + "    runs-on: ubuntu-latest\n    steps:\n"
        + f"      - uses: actions/checkout@{sha}\n"
        + "      - uses: ./\n        with: {suites: '${{ inputs.suites }}'}\n"
        + "      - run: echo \"$TITLE\"\n        env: {TITLE: '${{ github.event.issue.title }}'}\n",
    )
    assert audit(parse(workflow)) == []
    action = _action(
        f"uses: actions/setup-python@{sha}",
        "shell: bash\n      env: {CFG: '${{ inputs.config }}'}\n"
        '      run: golden-path --config "$CFG"',
    )
    assert audit(parse(action)) == []
