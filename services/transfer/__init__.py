"""Transfers (転送) to the connected systems: only the items the law and the ordinance allow.

``catalogue`` is the fixed list of resident items that can ever leave, ``config`` the
per-destination allowlist with the legal basis of each item, ``send`` plans and sends a
transfer in acknowledged batches, ``models`` keeps its state, ``sim`` is the receiving
simulator for the demo and the tests.
"""
