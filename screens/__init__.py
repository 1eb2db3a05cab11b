"""What staff see: one module per screen, its .tcss beside it, and shared widgets.

Screens ask ``auth``/``services`` and show the answer; they hold no SQL and no rule (an
import-linter contract keeps SQLAlchemy out). The workspace screens share one base,
``screens.workspace``: who acts, the message line, paging, a service call in a worker.
The sign-in, lock and home screens load before the first paint, so they import the
database layer only inside what runs after it; a workspace's screens are imported when
it is opened (``screens.workspaces``).
"""
