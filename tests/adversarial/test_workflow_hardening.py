"""Property 7: the workflows and the action are hardened — checked by parsing the YAML.

``audit`` reads ``action.yml`` and every ``.github/workflows/*.yml`` and reports each
broken rule: an expression (``${{``) inside any ``run:`` — workflow steps and composite
action steps alike, since event text there becomes shell; no top-level ``permissions:``,
``read-all``/``write-all``, or any write but ``issues: write`` (reads only for ``contents``
and ``actions``); a ``uses:`` (step, composite step or reusable-workflow job) not pinned
to a 40-hex commit SHA or a local ``./`` path (docker images: an ``@sha256:`` digest); an
``issue_comment`` trigger not limited to ``types: [created]`` or a job it can start without
an ``if:`` that excludes pull requests and bots and filters on the commenter's
``author_association``, or a workflow-level concurrency group in a workflow comments
trigger; and any ``pull_request_target`` trigger.

The checker is proven before it is trusted: each planted hazard is a small bad YAML
document that must produce its finding, and a clean document must produce none.

The linters run in ``tests/test_workflows.py`` (not repeated here): ``actionlint`` over the
workflows and the README's snippet (plus a planted injection it must catch) and ``zizmor
--offline`` over the workflows, ``action.yml`` and the README's snippet.

Distinct hazards tried (29 planted, plus the shipped files): 5 expressions in ``run:``,
8 permission shapes, 7 unpinned references, 4 unguarded ``issue_comment`` shapes,
3 ``pull_request_target`` spellings, and (finding 3 of the security review) a comment job
that starts for anyone and a workflow-level concurrency group a filtered comment still joins.

Finding 3 is also judged by evaluation: a small evaluator of the expression language runs
the example workflow's ``if:`` and ``concurrency.group`` on real event payloads, so who
starts a run and which group it joins are checked as GitHub would compute them.
"""

from __future__ import annotations

import json
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
        if "concurrency" in doc:
            found.append(
                "concurrency-before-gate: a workflow-level group is joined before any job's "
                "if:, so a filtered-out comment still replaces the run waiting in it"
            )
        for name, job in jobs.items():
            cond = " ".join(str(job.get("if", "")).split())
            if not (
                "github.event.issue.pull_request" in cond
                and "github.event.comment.user.type" in cond
            ):
                found.append(
                    f"unguarded-issue-comment: jobs.{name} has no if: excluding PRs and bots"
                )
            if "github.event.comment.author_association" not in cond:
                found.append(
                    f"unfiltered-commenters: jobs.{name} starts a runner for anyone's comment"
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
    " && github.event.comment.user.type != 'Bot' && contains(fromJSON('[\"OWNER\"]'),"
    " github.event.comment.author_association))\n"
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
    # Finding 3 of the security review: strangers reach a runner or a concurrency group
    "comment-without-association-filter": (
        _wf(
            on="{issue_comment: {types: [created]}}",
            job="    if: (!github.event.issue.pull_request && github.event.comment.user.type"
            " != 'Bot')\n    runs-on: ubuntu-latest\n    steps:\n      - run: ok\n",
        ),
        "unfiltered-commenters",
    ),
    "comment-workflow-level-concurrency": (
        _wf(
            on="{issue_comment: {types: [created]}}",
            permissions="permissions: {}\nconcurrency: {group: env, cancel-in-progress: false}",
            job=COMMENT_JOB,
        ),
        "concurrency-before-gate",
    ),
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


# -- Finding 3 of the security review: who starts a run, and which group it joins --------------
# A small evaluator for the part of the GitHub Actions expression language the workflows use
# (literals, context paths with ``.*`` filters, ! == != && || and contains / startsWith /
# endsWith / format / fromJSON), so the gate and the concurrency groups are judged by what
# they evaluate to for real event payloads, not by how they are spelled.
_EXPR_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|'(?P<str>(?:[^']|'')*)'"
    r"|(?P<op>==|!=|&&|\|\||[!()\[\],.*])|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "")


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return bool(a == b)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _call(name: str, args: list[Any]) -> Any:
    name = name.lower()
    if name == "contains":
        haystack, needle = args
        if isinstance(haystack, list):
            return any(_equal(item, needle) for item in haystack)
        return _text(needle).casefold() in _text(haystack).casefold()
    if name == "startswith":
        return _text(args[0]).casefold().startswith(_text(args[1]).casefold())
    if name == "endswith":
        return _text(args[0]).casefold().endswith(_text(args[1]).casefold())
    if name == "fromjson":
        return json.loads(args[0])
    if name == "format":
        out = _text(args[0]).replace("{{", "\0").replace("}}", "\1")
        for i, arg in enumerate(args[1:]):
            out = out.replace(f"{{{i}}}", _text(arg))
        return out.replace("\0", "{").replace("\1", "}")
    if name in ("always", "success", "cancelled", "failure"):  # a run nobody cancelled
        return name in ("always", "success")
    raise AssertionError(f"function {name} is not modelled")


class _Expr:
    """Parse and evaluate one expression against ``context`` (dicts and lists)."""

    def __init__(self, text: str, context: dict[str, Any]) -> None:
        self.tokens = []
        pos, text = 0, text.strip()
        while pos < len(text):
            m = _EXPR_TOKEN.match(text, pos)
            assert m and m.end() > pos, f"cannot read {text[pos:]!r}"
            self.tokens.append((m.lastgroup, m[m.lastgroup or ""]))
            pos = m.end()
        self.i = 0
        self.context = context

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str | None, str]:
        token = self.tokens[self.i]
        assert expected is None or token[1] == expected, (expected, token)
        self.i += 1
        return token

    def value(self) -> Any:
        result = self.or_()
        assert self.i == len(self.tokens), f"left over: {self.tokens[self.i :]}"
        return result

    def or_(self) -> Any:
        left = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            left = left if _truthy(left) else right
        return left

    def and_(self) -> Any:
        left = self.compare()
        while self.peek() == "&&":
            self.take()
            right = self.compare()
            left = right if _truthy(left) else left
        return left

    def compare(self) -> Any:
        left = self.unary()
        while self.peek() in ("==", "!="):
            op = self.take()[1]
            right = self.unary()
            left = _equal(left, right) == (op == "==")
        return left

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not _truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while self.peek() in (".", "["):
            if self.take()[1] == "[":
                key = self.or_()
                self.take("]")
                value = value.get(key) if isinstance(value, dict) else None
            elif self.peek() == "*":
                self.take()
                value = list(value.values()) if isinstance(value, dict) else list(value or [])
            else:
                name = self.take()[1]
                if isinstance(value, list):  # an object filter: the key of every item
                    value = [item.get(name) for item in value if isinstance(item, dict)]
                else:
                    value = value.get(name) if isinstance(value, dict) else None
        return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if kind == "str":
            return text.replace("''", "'")
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        assert kind == "name", text
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self.peek() == "(":
            self.take()
            args = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take()
            self.take(")")
            return _call(text, args)
        return self.context.get(text)


def evaluate(text: str, context: dict[str, Any], *, condition: bool = False) -> Any:
    """A string value with ``${{ }}`` parts in it, or (``condition``) an ``if:``, whose
    ``${{ }}`` is optional."""
    parts = re.split(r"\$\{\{(.*?)\}\}", " ".join(str(text).split()), flags=re.S)
    if condition and len(parts) == 1:
        return _Expr(parts[0], context).value()
    if len(parts) == 3 and not parts[0].strip() and not parts[2].strip():
        return _Expr(parts[1], context).value()
    return "".join(
        part if i % 2 == 0 else _text(_Expr(part, context).value()) for i, part in enumerate(parts)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 == 1 && 'a' || 'b'", "a"),
        ("!null && format('x-{0}-{1}', 'y', 2) || ''", "x-y-2.0"),
        ("contains(fromJSON('[\"OWNER\", \"MEMBER\"]'), 'owner')", True),
        ("contains('Please /Retest', '/retest')", True),
        ("contains(github.event.issue.labels.*.name, 'golden-path')", True),
        ("github.event.missing.deeper == null", True),
        ("${{ github.event_name != 'push' || ('x') }}", "x"),
        ("${{ !cancelled() }}", True),
    ],
)
def test_the_expression_evaluator_is_right(text: str, expected: Any) -> None:
    """The evaluator behind the gate checks agrees with GitHub on the constructs used."""
    context = {
        "github": {
            "event_name": "push",
            "event": {"issue": {"labels": [{"name": "bug"}, {"name": "golden-path"}]}},
        }
    }
    assert evaluate(text, context, condition=True) == expected
    assert evaluate(f"a-${{{{ {text.strip('${} ')} }}}}-b", context) == f"a-{_text(expected)}-b"
    assert evaluate("plain-group", context) == "plain-group"


def _comment(
    body: str,
    association: str = "COLLABORATOR",
    *,
    labels: tuple[str, ...] = ("golden-path",),
    user_type: str = "User",
    pull_request: bool = False,
) -> dict[str, Any]:
    issue: dict[str, Any] = {"number": 3, "labels": [{"name": name} for name in labels]}
    if pull_request:
        issue["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/3"}
    comment = {
        "id": 7,
        "body": body,
        "author_association": association,
        "user": {"login": "someone", "type": user_type},
    }
    return {"event_name": "issue_comment", "event": {"issue": issue, "comment": comment}}


DEPLOYS, TESTS, OWN = "golden-path-staging", "golden-path-staging-tests", "-comment-7"
# event → the concurrency groups the run joins (empty: it starts nothing at all)
SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any], list[str]]] = {
    "push": ({"event_name": "push", "event": {}}, {}, [DEPLOYS]),
    "dispatch-deploy": (
        {"event_name": "workflow_dispatch", "event": {}},
        {"deploy": True, "suites": ""},
        [DEPLOYS],
    ),
    "dispatch-test-only": (
        {"event_name": "workflow_dispatch", "event": {}},
        {"deploy": False, "suites": ""},
        [TESTS],
    ),
    "retest-collaborator": (_comment("/retest"), {}, [TESTS]),
    "retest-member-any-case": (_comment("/Retest all", "MEMBER"), {}, [TESTS]),
    "deploy-owner": (_comment("/deploy", "OWNER"), {}, [DEPLOYS]),
    "retest-and-deploy": (_comment("/retest\n/deploy"), {}, [DEPLOYS]),
    "status": (_comment("/status", "MEMBER"), {}, [DEPLOYS + OWN]),
    "why": (_comment("/why 2 the clock was off"), {}, [DEPLOYS + OWN]),
    "help": (_comment("/help"), {}, [DEPLOYS + OWN]),
    "stranger-retest": (_comment("/retest", "NONE"), {}, []),
    "contributor-deploy": (_comment("/deploy", "CONTRIBUTOR"), {}, []),
    "first-timer-retest": (_comment("/retest", "FIRST_TIME_CONTRIBUTOR"), {}, []),
    "first-timer-on-github": (_comment("/retest", "FIRST_TIMER"), {}, []),
    "mannequin": (_comment("/deploy", "MANNEQUIN"), {}, []),
    "no-command": (_comment("thanks, looks good"), {}, []),
    "pull-request": (_comment("/retest", pull_request=True), {}, []),
    "bot": (_comment("/retest", user_type="Bot"), {}, []),
    "unlabelled-issue": (_comment("/retest", labels=("bug",)), {}, []),
}


def joined_groups(workflow: dict[str, Any], github: dict[str, Any], inputs: dict) -> list[str]:
    """The groups a run of ``workflow`` for this event takes a place in, in order.

    A workflow-level group is taken as the run is queued, before any job's ``if:``; a job's
    group only when its ``if:`` lets it run.
    """
    context = {"github": github, "inputs": inputs}
    groups = []
    if "concurrency" in workflow:
        groups.append(evaluate(workflow["concurrency"]["group"], context))
    for job in workflow["jobs"].values():
        if "if" in job and not _truthy(evaluate(job["if"], context, condition=True)):
            continue
        if "concurrency" in job:
            groups.append(evaluate(job["concurrency"]["group"], context))
        elif not groups:
            groups.append("<no group>")
    return groups


@pytest.mark.parametrize(("github", "inputs", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_who_starts_a_run_and_which_group_it_joins(
    github: dict[str, Any], inputs: dict[str, Any], expected: list[str]
) -> None:
    """Finding 3: strangers start nothing; tests never replace a waiting deploy; chat never
    replaces an iteration."""
    workflow = parse((ROOT / ".github/workflows/golden-path.yml").read_text(encoding="utf-8"))
    assert joined_groups(workflow, github, inputs) == expected
    assert workflow["jobs"]["golden-path"]["concurrency"]["cancel-in-progress"] is False


def test_test_only_runs_share_their_group_across_workflows() -> None:
    """Finding 3: the sharded workflow (it only tests) never replaces a waiting deploy."""
    workflow = parse(
        (ROOT / ".github/workflows/golden-path-sharded.yml").read_text(encoding="utf-8")
    )
    github = {"event_name": "workflow_dispatch", "event": {}}
    assert joined_groups(workflow, github, {"suites": ""}) == [TESTS]


def test_readme_snippet_is_hardened_and_filters_strangers() -> None:
    """Finding 3: the README's workflow breaks no rule, and strangers' comments start nothing."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- section:action -->")[1].split("<!-- /section:action -->")[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    workflow = parse(block)
    assert audit(workflow) == []
    for name, (github, inputs, expected) in SCENARIOS.items():
        starts = bool(joined_groups(workflow, github, inputs))
        assert starts == bool(expected) or name == "no-command", name
