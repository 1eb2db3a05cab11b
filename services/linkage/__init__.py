"""個人番号の紐付け (My Number linkage): proposal, four-eyes review, effect, periodic check.

Public faces: ``services.linkage.proposals`` (propose, submit, amend, withdraw,
propose_unlink, approve, reject, open_proposal, compare, pending, drafts,
link_history), ``services.linkage.items`` (the side-by-side rows and difference kinds) and
``services.linkage.check`` (check_links, reconfirm).
"""
