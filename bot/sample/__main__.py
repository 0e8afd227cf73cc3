"""``python -m bot.sample``: serve the sample target until interrupted."""

from bot.sample.server import main

raise SystemExit(main())
