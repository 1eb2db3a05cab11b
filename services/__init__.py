"""What the office does: the register, lookups, linkage, access review, and their rules."""
