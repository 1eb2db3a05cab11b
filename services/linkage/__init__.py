"""個人番号の紐付け (My Number linkage): proposal, four-eyes review, effect, periodic check.

Public faces: ``services.linkage.proposals`` (propose, submit, amend, withdraw,
propose_unlink, approve, reject, open_proposal, compare, pending, drafts,
link_history), ``services.linkage.items`` (the side-by-side rows and difference kinds) and
``services.linkage.check`` (check_links, reconfirm).
"""

# The register import calls linkage through a hook it owns (services.register.hooks):
# importing this package registers the drift hook.
from services.linkage import import_drift as _import_drift  # noqa: F401
