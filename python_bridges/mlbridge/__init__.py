"""mlbridge: write a Python worker that the mlbridge C++ host can supervise.

A whole bridge script::

    from mlbridge import BaseBridge, BridgeError, command

    class EchoBridge(BaseBridge):
        framework = "echo"

        @command("echo", description="Return the arguments unchanged.")
        def echo(self, args, ctx):
            return args

    if __name__ == "__main__":
        EchoBridge.main()
"""

from .bridge import SDK_VERSION, BaseBridge
from .command import command
from .context import CallContext, current_call
from .errors import BridgeError

__version__ = SDK_VERSION

__all__ = ["BaseBridge", "BridgeError", "CallContext", "command", "current_call", "__version__"]
