"""What the bot assumes about an agent backend's frames until the config says otherwise.

One home for the defaults the config's models (``bot.config.models``) and the checker
(``bot.checks.agent_flow``, which runs without pydantic inside the user's suites) both start
from.
"""

#: The golden path's events, in the order a healthy run sends them.
EVENTS = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")

#: Values of the type key that mark an error frame.
ERROR_TYPES = ("error", "error_message")

#: Where the common error-frame shapes keep their code and text: {"type": "error", "message":
#: …}, {"type": "error_message", "error_code": …, "error_message": …}, {"detail": …}, and the
#: same under data/error/payload envelopes; tried in order.
ERROR_CODE_PATHS = (
    "error_code",
    "code",
    "data.error_code",
    "data.code",
    "error.code",
    "error.error_code",
    "payload.error_code",
    "payload.code",
)
ERROR_MESSAGE_PATHS = (
    "error_message",
    "message",
    "detail",
    "error",
    "reason",
    "data.error_message",
    "data.message",
    "data.detail",
    "data.error",
    "error.message",
    "error.detail",
    "payload.error_message",
    "payload.message",
    "payload.detail",
)
