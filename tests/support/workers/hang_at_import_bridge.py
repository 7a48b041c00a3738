"""A bridge script that hangs at import, as one that waits on a lock or a download does.

Before hanging it starts a child process in its own process group and, when the variable
MLBRIDGE_TEST_PID_FILE names a file, writes "<its pid> <child pid>" there, so that a test can
check that the host killed the whole group and left nothing behind.
"""

import os
import subprocess
import sys
import time

_child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
_pid_file = os.environ.get("MLBRIDGE_TEST_PID_FILE")
if _pid_file:
    with open(_pid_file, "w", encoding="utf-8") as out:
        out.write(f"{os.getpid()} {_child.pid}\n")
while True:
    time.sleep(3600)
