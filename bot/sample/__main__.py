"""``python -m bot.sample``: serve the sample target until interrupted."""

from bot.sample.serve import main

raise SystemExit(main())
