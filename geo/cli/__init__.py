"""The ``geo`` command line."""
