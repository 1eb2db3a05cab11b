"""Backups that restore: ``juki db backup``, ``juki db restore``, ``juki db drill``
(docs/backup.md; docs/architecture.md §9).

One backup is one file: an age file (``pyrage``, X25519) for recipients whose identities
are kept away from the host, holding a tar of two members — ``manifest.json`` (what the
snapshot held: schema revision, audit head, counts per table, the My Number key's check
value, the time, the payload's size and SHA-256) and the payload (a SQLite copy made with
the online backup API, or a ``pg_dump`` custom-format archive of the application's
schema). The key file is never in it. The parts, one concern each:

- ``workdir``: the private folder the plaintext payload passes through;
- ``progress``: what a long step says on stderr while it runs;
- ``manifest``: the facts of one snapshot, read alike from both backends;
- ``pgtools``: ``pg_dump``/``pg_restore``, found and called with the app's connection;
- ``dump``: the consistent snapshot, payload and facts from the same moment;
- ``container``: the tar in the age file, written and read as streams;
- ``load``: a payload into an empty database;
- ``checks``: what a restored database must show (chain, head, counts, anchors, a
  lookup, a number that opens);
- ``act``, ``restore``, ``drill``: the three commands' services, each recorded.
"""
