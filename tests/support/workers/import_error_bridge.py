"""A bridge script that fails on import, as a bridge with a missing package does.

Every start fails before hello with a ModuleNotFoundError and its traceback: the host must
report it once, as a configuration problem (not retry it in a loop), and `mlbridge check`
must find it without starting a worker.
"""

import definitely_not_an_installed_module  # noqa: F401
