"""Jinja2 rendering of the tracking issue and the job summary.

Safety is the environment's default, not each template's duty: every ``{{ value }}``
passes through :func:`md_inline` (Markdown-escaped, one line, mentions and issue
references neutralised, length-capped) unless the value is :class:`~markupsafe.Markup`
made by one of our own filters. Untrusted text is only ever *data* in a context — it
is never compiled as a template — and every string is redacted on the way out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from bot import redact
from bot.issue_format import GITHUB_BODY_LIMIT

_WJ = "\u2060"  # word joiner: breaks @mention and #123 autolinks, invisible when rendered

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_MENTION = re.compile(r"@(?=[A-Za-z0-9_-])")
_REF = re.compile(r"(?<![&\w])#(?=\d)")
_WS = re.compile(r"\s+")


def md_inline(value: Any, limit: int = 500) -> str:
    """Untrusted text → safe inline Markdown: nothing it contains can format, ping or link."""
    text = redact.redact(str(value))
    text = _WS.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("&", "&amp;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("\\<", "&lt;").replace("\\>", "&gt;")
    text = _MENTION.sub("@" + _WJ, text)
    return _REF.sub("#" + _WJ, text)


def _no_comment(text: str) -> str:
    """A code span shows ``<!--`` literally, but the raw body would hold a marker-like
    comment: a test named ``… <!-- golden-path:end -->`` must not end the bot's section."""
    return text.replace("<!--", "<!" + _WJ + "--").replace("-->", "--" + _WJ + ">")


def code_span(value: Any, limit: int = 200) -> Markup:
    """Inline code whose fence is longer than any backtick run inside it."""
    text = _no_comment(_WS.sub(" ", redact.redact(str(value))).strip())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return Markup(f"{fence}{pad}{text}{pad}{fence}")  # noqa: S704 - a code span escapes all


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Markup | int | float):
        return value
    return md_inline(value)


def log_line(value: Any) -> Markup:
    """One line of a log excerpt inside a fenced code block: it can neither close the fence
    nor hold a marker; inside code nothing else renders."""
    text = _no_comment(_WS.sub(" ", redact.redact(str(value))).rstrip())[:500]
    return Markup(text.replace("```", "`" + _WJ + "``"))  # noqa: S704 - inside a code fence


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 10:
        return f"{value:.3f}s"
    if value < 120:
        return f"{value:.1f}s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m{seconds:02d}s"


def fmt_time(iso: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone(UTC).strftime(fmt)


def _safe_url(value: Any) -> Markup:
    """A link we built ourselves (http/https only); anything else degrades to escaped text."""
    text = redact.redact(str(value or ""))
    if re.fullmatch(r"https?://[^\s<>()\[\]`]+", text):
        return Markup(text)  # noqa: S704 - checked: a plain http(s) URL, nothing to format
    return Markup(md_inline(text))  # noqa: S704 - md_inline escaped it


def template_dir() -> Path:
    """The packaged templates: inside the wheel (bot/templates) or the checkout's templates/."""
    packaged = Path(str(resources.files("bot"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


@functools.lru_cache(maxsize=8)
def environment(override_dir: str | Path | None = None) -> jinja2.Environment:
    """Packaged templates, optionally shadowed file-by-file by a user directory.

    Cached: compiling the templates costs tens of milliseconds, and a run renders the body
    several times (archives, reconciling concurrent writes, shrinking a refused body).
    Jinja re-reads a template whose file changed, so overrides stay live.
    """
    loaders: list[jinja2.BaseLoader] = []
    if override_dir:
        loaders.append(jinja2.FileSystemLoader(str(override_dir)))
    loaders.append(jinja2.FileSystemLoader(str(template_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,  # noqa: S701 - Markdown, not HTML: _finalize escapes for Markdown
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        code=code_span,
        md=lambda v, limit=500: Markup(md_inline(v, limit)),  # noqa: S704 - escaped
        secs=fmt_seconds,
        time=fmt_time,
        url=_safe_url,
        logline=log_line,
    )
    return env


@dataclass(slots=True)
class Rendered:
    body: str
    log_shown: int
    truncated: bool


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    override_dir: str | Path | None = None,
    budget: int = GITHUB_BODY_LIMIT,
) -> Rendered:
    """Render within ``budget`` characters, showing fewer log entries and findings first.

    The log entries not shown stay in the state (and in archive comments), so shrinking
    the body loses nothing.
    """
    env = environment(override_dir)
    tpl = env.get_template(template)
    log_limit = int(context.get("log_limit", 30))
    findings_limit = int(context.get("findings_limit", 20))
    while True:
        body = tpl.render({**context, "log_limit": log_limit, "findings_limit": findings_limit})
        body = redact.redact(body)
        if len(body) <= budget:
            return Rendered(body, log_limit, truncated=False)
        if log_limit > 0:
            log_limit //= 2
        elif findings_limit > 1:
            findings_limit //= 2
        else:
            break
    note = "\n\n*(report truncated to fit GitHub's size limit)*\n"
    return Rendered(body[: budget - len(note)] + note, 0, truncated=True)
