"""The bundled sample staging target: an agent-chat backend with fault switches.

Used by ``golden-path demo``, by the test suite and by the benchmarks, so every failure mode the
bot must diagnose can be produced on demand against a real HTTP/WebSocket server.
"""

from bot.sample.server import DEMO_SECRET, EVENTS, FAULTS, SampleTarget, main, parse_faults

__all__ = ["DEMO_SECRET", "EVENTS", "FAULTS", "SampleTarget", "main", "parse_faults"]
