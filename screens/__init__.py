"""What staff see: one module per screen, its .tcss beside it, and shared widgets.

Screens ask ``auth``/``services`` and show the answer; they hold no SQL and no rule (an
import-linter contract keeps SQLAlchemy out). The workspace screens share one base,
``screens.workspace``: who acts, the message line, paging, a service call in a worker.
The sign-in screen loads before the first paint, so it imports the database layer only
inside what runs after it; the home and lock screens are imported after sign-in, and a
workspace's screens when it is opened (``screens.workspaces``).
"""
