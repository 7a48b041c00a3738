"""myteam: an example of a team's own Python package served by mlbridge.

A bridge declares it in its YAML::

    code:
      paths: [examples/user_code]      # relative to host.root
      modules: [myteam]                # imported by every worker at start

and requests then name its objects by import path, e.g. ``"myteam:greet"``. The
framework examples live beside this file (``programs.py``, ``tools.py``,
``metrics.py`` for DSPy; ``chains.py`` for LangChain); declare the ones a bridge
uses in its ``code.modules``. This package itself imports nothing heavy, so any
bridge can declare it.
"""

from __future__ import annotations

__version__ = "0.1.0"


def greet(name: str) -> str:
    """Return a greeting for ``name`` (the smallest object a request can name)."""
    return f"hello, {name}"


def word_count(text: str) -> int:
    """Count the words of ``text``."""
    return len(text.split())
