"""What staff see: one module per screen, its .tcss beside it, and shared widgets.

Screens ask ``auth``/``services`` and show the answer; they hold no SQL and no rule.
Heavy imports (the database layer) happen inside workers, after the first paint.
"""
