"""Before/after check of the stats views: runs `BINARY serve` on an echo host (one worker), makes
the same calls (ok, a Python error, an unknown command, a cast), then writes /metrics (sorted
series; values of times, memory and build info masked) and /v1/bridges (pids, memory and
quantiles masked) to OUT. Two binaries whose OUT files are equal report the same figures.
usage: compare_stats_output.py BINARY OUT"""

import http.client
import json
import re
import subprocess
import sys
import time

binary, out = sys.argv[1], sys.argv[2]
root = str(__import__("pathlib").Path(__file__).resolve().parents[2])
cfg = out + ".yaml"
open(cfg, "w").write(f"""host:
  root: {root}
  python: {sys.executable}
bridges:
  echo:
    script: python_bridges/examples/echo_bridge.py
    pool: {{size: 1}}
""")
p = subprocess.Popen(
    [binary, "serve", "--config", cfg, "--listen", "127.0.0.1:0"],
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
    text=True,
    cwd=root,
)
port = int(re.search(r":(\d+)", p.stdout.readline()).group(1))


def req(m, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(
        m,
        path,
        body=None if body is None else json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    r = c.getresponse()
    d = r.read()
    c.close()
    return r.status, d.decode()


for i in range(3):
    req("POST", "/v1/bridges/echo/commands/echo", {"args": {"i": i}})
req("POST", "/v1/bridges/echo/commands/fail", {"args": {"type": "ValueError", "message": "x"}})
req("POST", "/v1/bridges/echo/commands/nope", {"args": {}})
req("POST", "/v1/bridges/echo/commands/echo", {"args": {}, "reply": False})
time.sleep(1)
_, metrics = req("GET", "/metrics")
_, bridges = req("GET", "/v1/bridges")
p.terminate()
p.wait()
lines = []
for line in metrics.splitlines():
    if line.startswith("#"):
        lines.append(line)
        continue
    series, value = line.rsplit(" ", 1)
    if re.search(r"seconds|resident|uptime|build_info", series):
        value = "X"
    lines.append(series + " " + value)
b = json.loads(bridges)


def mask(o):
    if isinstance(o, dict):
        return {
            k: ("X" if k in ("pid", "rss_bytes") or k.endswith("_s") else mask(v))
            for k, v in o.items()
        }
    if isinstance(o, list):
        return [mask(v) for v in o]
    return o


open(out, "w").write(
    "\n".join(sorted(lines)) + "\n" + json.dumps(mask(b), indent=1, sort_keys=True) + "\n"
)
