"""The tracking issue's fixed format: the hidden markers the bot writes and GitHub's size limits.

Every marker and every size budget lives here, so a change to the format is one edit and the
readers (session state, trackers, the job summary) cannot disagree with the writers.
"""

from __future__ import annotations

import re

#: The bot owns exactly the text between these two lines; people's text outside survives.
BEGIN = "<!-- golden-path:begin -->"
END = "<!-- golden-path:end -->"
#: The hidden, versioned session state inside the bot's section.
STATE_OPEN = "<!-- golden-path-state:v{version}{mac}\n"
STATE_CLOSE = "\n-->"
STATE_BLOCK = re.compile(
    r"<!-- golden-path-state:v(?P<v>\d+)(?: mac=(?P<mac>[0-9a-f]{32}))?\n(?P<json>.*?)\n-->", re.S
)
STATE_START = re.compile(r"<!-- golden-path-state:v\d+\n")
#: Any of the bot's own hidden comments (markers, state): stripped from the job summary.
BOT_COMMENT = re.compile(r"<!--\s*golden-path\b.*?-->\n?", re.S)
#: The label that carries the current status next to people's labels.
STATUS_LABEL = "golden-path: {status}"

#: GitHub refuses issue and comment bodies longer than this (422 "body is too long").
GITHUB_BODY_LIMIT = 65_536
#: Margin kept below the limit for the markers' newlines and GitHub's own counting.
BODY_MARGIN = 64
#: Characters the hidden state block may take, leaving the rest for the report.
STATE_BUDGET = 30_000
#: How much smaller each retry makes the body after GitHub still calls it too long.
SHRINK_STEP = 8_000
#: An archive comment stays well under the body limit.
ARCHIVE_CHUNK = 60_000
#: GitHub's limit for one step's job summary, in bytes.
SUMMARY_LIMIT = 1024 * 1024


def env_marker(environment: str) -> str:
    """Hidden line that identifies an environment's tracking issue (titles get edited)."""
    return f"<!-- golden-path:environment={environment} -->"


def archive_marker(environment: str) -> str:
    """Hidden line that marks a comment as the bot's archive of old log entries."""
    return f"<!-- golden-path:archive environment={environment} -->"


def owned_region(body: str) -> tuple[int, int] | None:
    """(start, end) of the bot-owned text, markers included; None when absent."""
    start = body.find(BEGIN)
    if start < 0:
        return None
    end = body.find(END, start)
    if end < 0:
        return None
    return start, end + len(END)


def damaged_region(body: str) -> tuple[int, int] | None:
    """The bot's section when a person deleted one of its two marker lines; else None.

    With BEGIN alone, the section ends after the first state block that follows it (a block
    further down would be in people's text); with END alone, it starts at the environment
    marker, the section's second line.
    """
    if owned_region(body) is not None:
        return None
    begin, end = body.find(BEGIN), body.find(END)
    if begin >= 0:
        block = STATE_BLOCK.search(body, begin)
        return begin, block.end() if block else len(body)
    if end >= 0:
        start = body.rfind("<!-- golden-path:environment=", 0, end)
        return (start, end + len(END)) if start >= 0 else None
    return None


def replace_owned(body: str, owned: str) -> str:
    """``body`` with the bot-owned region replaced by ``owned``; people's text survives.

    A section whose markers were partly deleted by hand is replaced whole, never left as a
    dead copy beside the new one.
    """
    region = owned_region(body or "") or damaged_region(body or "")
    if region is None:
        return f"{owned}\n\n{body}".rstrip() + "\n" if body and body.strip() else owned
    return body[: region[0]] + owned + body[region[1] :]


def owned_budget(body: str) -> int:
    """What the bot-owned section may use: the GitHub limit minus people's text."""
    region = owned_region(body or "") or damaged_region(body or "")
    outside = len(body or "") - (region[1] - region[0] if region else 0)
    return GITHUB_BODY_LIMIT - outside - BODY_MARGIN


def check_body(body: str) -> str:
    """Why ``body`` must not be written ("" when it is sound).

    A body must hold exactly one BEGIN, one END and one state block, in that order: anything
    else would make the next run read the wrong state (or none) and fight the last write.
    """
    counts = (body.count(BEGIN), body.count(END), len(STATE_BLOCK.findall(body)))
    if counts != (1, 1, 1):
        return f"expected one begin marker, one end marker and one state block, found {counts}"
    if not body.find(BEGIN) < STATE_BLOCK.search(body).start() < body.find(END):  # type: ignore[union-attr]
        return "the state block is not between the markers"
    return ""
