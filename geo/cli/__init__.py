"""The ``geo`` command line: :func:`geo.cli.main.main` (one click group, one function per command)."""

__all__: list[str] = []  # the command is the entry point geo.cli.main:main
