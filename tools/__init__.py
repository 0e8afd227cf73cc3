"""Maintainer tools that are not part of the installed bot (screenshots for the docs)."""
