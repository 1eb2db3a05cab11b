"""The front door: the ``juki`` command, settings wiring and the Textual app."""
