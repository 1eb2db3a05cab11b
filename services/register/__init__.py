"""The resident register: residents, households, change history, demo data."""
