"""帳票 (printed and exported reports): the pieces every report of the console shares.

``output`` — times as documents print them (和暦, Japan time), the private file write
(mode 0600, atomic) and its SHA-256 for the audit record; ``csv`` — Excel-friendly CSV
with every cell made inert; ``pdf`` — A4 Japanese documents with the font embedded,
header and footer on every page, tables whose long cells wrap.

The linkage record (``services.linkage.report``) is the first user; the access-review
report after personnel changes uses the same pieces.
"""
