"""Cold start: the cost of ``import function_app`` beside ``import azure.functions`` alone.

The Functions host imports function_app.py (and so every blueprint it registers) before the first
invocation; everything beyond azure.functions itself is our cold-start overhead.  Each sample is a
fresh interpreter with ``-X importtime``; the figure is the cumulative import time of the top-level
module (interpreter start-up excluded).  The two imports alternate, so a load spike on the shared
machine hits both; the medians are compared.  Target: ratio <= 1.3.

    .venv/bin/python bench/cold_start.py            # 15 runs of each
    .venv/bin/python bench/cold_start.py --runs 31 --top 12
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def _env() -> dict[str, str]:
    # As the host imports the app: no archive setting is needed (nor read) at import time.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE", "PYTHON"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def import_times(code: str) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) for every import of ``python -X importtime -c code``."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, env=_env(),
                            capture_output=True, text=True, check=True)
    rows = []
    for line in result.stderr.splitlines():
        m = LINE.match(line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    return rows


def cumulative_ms(module: str) -> float:
    """The cumulative import time of ``module`` (a top-level import) in a fresh interpreter, in ms."""
    rows = import_times(f"import {module}")
    return next(cum for _, cum, depth, name in rows if name == module and depth == 0) / 1000


def cpu_ms(code: str) -> float:
    """CPU time (user + system) of ``python -c code`` in a fresh interpreter, in ms: unlike the wall
    time, it hardly moves when other processes share the two cores."""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=_env())
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, code
    return (usage.ru_utime + usage.ru_stime) * 1000


def beyond_azure_functions(top: int) -> list[tuple[float, str]]:
    """The modules function_app pulls in beyond azure.functions, biggest cumulative time first."""
    rows = import_times("import azure.functions; import function_app")
    start = next(i for i, r in enumerate(rows) if r[3] == "azure.functions" and r[2] == 0)
    mine = [(cum / 1000, "  " * (depth - 1) + name)
            for _, cum, depth, name in rows[start + 1:] if 1 <= depth <= 2]
    return sorted(mine, reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="samples of each import (default: %(default)s)")
    parser.add_argument("--top", type=int, default=8, help="list this many of function_app's own imports")
    args = parser.parse_args(argv)

    # One import first, for the .pyc files and the disk cache.
    subprocess.run([sys.executable, "-c", "import function_app"], cwd=ROOT, env=_env(), check=True)
    base: list[float] = []
    app: list[float] = []
    cpu = {"pass": [], "import azure.functions": [], "import function_app": []}
    for _ in range(args.runs):
        base.append(cumulative_ms("azure.functions"))
        app.append(cumulative_ms("function_app"))
        for code, samples in cpu.items():
            samples.append(cpu_ms(code))
    b, a = statistics.median(base), statistics.median(app)
    # Each pair ran back to back, under about the same load: the median of the pairs' ratios is
    # steadier on a busy machine than the ratio of the medians.
    ratio = statistics.median(x / y for x, y in zip(app, base))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"{args.runs} alternating runs of each")
    print(f"import azure.functions  {b:7.1f} ms median  (min {min(base):.1f}, max {max(base):.1f})")
    print(f"import function_app     {a:7.1f} ms median  (min {min(app):.1f}, max {max(app):.1f})")
    print(f"ratio                   {ratio:7.2f}x median of the pairs  (of the medians {a / b:.2f}x, "
          f"of the minima {min(app) / min(base):.2f}x; target <= 1.30)")
    bare, af, fa = (statistics.median(v) for v in cpu.values())
    print(f"CPU time beyond a bare interpreter ({bare:.0f} ms): azure.functions {af - bare:.1f} ms, "
          f"function_app {fa - bare:.1f} ms, ratio {(fa - bare) / (af - bare):.2f}x (medians)")
    print("\nfunction_app beyond azure.functions (one run, cumulative ms, two levels):")
    for ms, name in beyond_azure_functions(args.top):
        print(f"  {ms:7.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
