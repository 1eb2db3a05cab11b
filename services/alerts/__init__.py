"""Alert rules over the audit trail: misuse seen while it happens (操作ログ監視)."""
