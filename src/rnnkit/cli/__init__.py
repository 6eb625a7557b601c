"""The ``rnnkit`` command line: one thin module per command, over the library and its tasks."""
