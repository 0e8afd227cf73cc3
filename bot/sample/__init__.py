"""The bundled sample staging target: an agent-chat backend with fault switches.

Used by ``golden-path demo``, by the test suite and by the benchmarks, so every failure mode the
bot must diagnose can be produced on demand against a real HTTP/WebSocket server. Two profiles:
``SampleTarget`` (five events, once each) and ``RealisticTarget`` (a real platform's envelopes,
repeated events, sub-agents, noise and subprotocol auth; see ``realistic.py``).
"""

from bot.sample.realistic import FAULTS as REALISTIC_FAULTS
from bot.sample.realistic import RealisticTarget, realistic_config, token_subprotocol
from bot.sample.realistic import parse_faults as parse_realistic_faults
from bot.sample.serve import main
from bot.sample.server import DEMO_SECRET, EVENTS, FAULTS, SampleTarget, parse_faults

__all__ = [
    "DEMO_SECRET",
    "EVENTS",
    "FAULTS",
    "REALISTIC_FAULTS",
    "RealisticTarget",
    "SampleTarget",
    "main",
    "parse_faults",
    "parse_realistic_faults",
    "realistic_config",
    "token_subprotocol",
]
