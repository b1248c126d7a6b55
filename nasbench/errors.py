"""The error every registry raises for a name it does not know.

:class:`UnknownName` is a ``KeyError`` (callers that catch ``KeyError`` keep working) whose message
is a sentence for the user: the name asked for and the names known. The command line prints it as
one line and exits 2; any other ``KeyError`` is a bug and keeps its traceback.
"""

from __future__ import annotations


class UnknownName(KeyError):
    """A benchmark, strategy, preset, dataset, encoding or training preset that does not exist."""

    def __str__(self) -> str:  # KeyError's str() quotes its argument; a sentence reads better bare
        return str(self.args[0]) if self.args else ""
