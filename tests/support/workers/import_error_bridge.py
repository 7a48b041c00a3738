"""A bridge script that fails on import, as a bridge with a missing package does.

Used by the crash-loop tests: every start fails before hello with an ImportError.
"""

import definitely_not_an_installed_module  # noqa: F401
