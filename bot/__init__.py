"""Golden Path Bot: deploy, check the golden path of an agent chat backend, report."""

__version__ = "0.1.0"
