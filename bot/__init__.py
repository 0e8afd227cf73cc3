"""Golden Path Bot: deploy, check the golden path of an agent chat backend, report."""

# The one place the version is written: the wheel (hatchling), `golden-path --version` and
# the release workflow read it; CHANGELOG.md's newest release heading must match it.
__version__ = "1.0.0"
