"""個人番号の紐付け (My Number linkage): proposal, four-eyes review, effect, periodic check
(docs/domain.md, "My Number").

Modules, one concern each: ``application`` (the choices and items a proposal is made of,
read from what was typed), ``rules`` (which state allows which step; duplicates),
``acts`` (propose, propose_unlink, submit, amend, withdraw), ``decision`` (approve,
reject and the link they make), ``views`` (what the services return; ``compare``),
``queue`` (open_proposal, pending, drafts, link_history), ``reveal`` (the proposed
number for the reviewer), ``items`` (the side-by-side rows and difference kinds),
``check`` (check_links, reconfirm) and ``report`` (the record kept). Every act passes
through ``services.gate``.
"""

# The register import calls linkage through a hook it owns (services.register.hooks):
# importing this package registers the drift hook.
from services.linkage import import_drift as _import_drift  # noqa: F401
