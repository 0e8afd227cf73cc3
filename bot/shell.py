"""Run a shell command from the config (logs, analyzers): own process group, timeout, cap.

The command text is the team's (from their config); any value put into it is shell-quoted by
the caller. A command that hangs is stopped whole — its children included — at the timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping

#: Output read before it is cut (what is kept from it is far smaller).
MAX_OUTPUT = 1 << 20


def run(command: str, timeout: float, env: Mapping[str, str], stdin: str | None = None) -> str:
    """A shell command in its own process group, stopped whole at the timeout."""
    proc = subprocess.Popen(  # noqa: S602 - the command comes from the config file
        command,
        shell=True,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(stdin.encode() if stdin is not None else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise TimeoutError(f"no answer within {timeout:g}s") from None
    if proc.returncode != 0:
        tail = out.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"exit {proc.returncode}: {tail[0][:200]}")
    return out[:MAX_OUTPUT].decode("utf-8", "replace")
