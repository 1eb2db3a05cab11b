"""The ground floor: settings, the database engine, the clock and the acting user.

Every other layer may import from here; this package imports from none of them.
"""
