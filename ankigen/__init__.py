"""ankigen: compile structured Markdown study notes into Anki decks."""

__version__ = "0.1.0"
