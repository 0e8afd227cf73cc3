"""The `golden-path` command surface: verbs, exit codes, serve-sample."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx

from bot.cli import main


def test_serve_sample_takes_its_options_and_serves_until_terminated() -> None:
    """`golden-path serve-sample --fault health-down --port 0` serves, then stops on SIGTERM."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from bot.cli import main; sys.exit(main())",
            "serve-sample",
            "--fault",
            "health-down",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "backend"
        assert httpx.get(f"{ready[1]}/health").status_code == 503
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_schema_prints_a_json_schema(capsys) -> None:
    """`golden-path schema` prints the config's JSON Schema."""
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"checks", "auth", "tracking", "commands"} <= set(schema["properties"])
