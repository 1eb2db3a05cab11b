"""Who may do it: accounts, passwords, sessions, roles and permissions."""
