"""What happened: the audit trail, its hash chain and the structlog stream."""
