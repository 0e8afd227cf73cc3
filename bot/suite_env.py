"""The environment a user suite's process gets from the bot: the contract with ``plugin``.

Its own module so the bot's side (``checks/pytest_suite``) names these variables without
importing the plugin, and pytest with it, into every run — suites or not.
"""

ENV_BASE_URL = "GOLDEN_PATH_BASE_URL"
ENV_WS_URL = "GOLDEN_PATH_WS_URL"
ENV_TOKEN = "GOLDEN_PATH_TOKEN"
ENV_CONFIG = "GOLDEN_PATH_CONFIG"
ENV_PREFETCH = "GOLDEN_PATH_PREFETCH"
ENV_CONCURRENCY = "GOLDEN_PATH_CONCURRENCY"
