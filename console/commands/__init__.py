"""The ``juki`` command groups: one module each, holding its parsers and its handler.

Each module names its group in ``GROUP`` (``common.Group``: the name, a function that adds
the group's parsers to the top parser, and the handler; a group whose subcommands each
have a function of their own names them on their parsers, ``set_defaults(handler=…)``,
and runs ``common.run_chosen``); ``console/cli.py`` builds the top parser from them in
order, dispatches, and turns errors into exit codes. Options several groups take alike
are in ``options``.

Start-up time: ``console/cli.py`` imports every group to build the parser, so a group's
module imports only what is cheap at its top. The services (SQLAlchemy, SQLModel, about a
quarter of a second), ``core.inert`` (Rich), ``services.jp`` (the address tables) and the
Textual app are imported inside the handler that uses them, each marked ``# on use``, so
``juki --help`` and the quick commands stay quick (bench/startup).
"""
