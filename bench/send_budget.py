"""The send endpoint's budget against storage that fails: ``POST /api/send/{channel}`` through
function_app.app's send_message (a real ``func.HttpRequest``) while the archive storage refuses
connections, accepts them and never answers, or answers 500.  The answer must be 503 within 10 s
(docs/outbound.md) with nothing sent; ACS is a closed loopback port, so a send would show as 502.

    .venv/bin/python bench/send_budget.py             # 3 runs of each, SMS
    .venv/bin/python bench/send_budget.py --runs 5 --channel email
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BODIES = {
    "sms": {"from": "+18005550100", "to": ["+14255550123"], "message": "bench"},
    "email": {"message": {"senderAddress": "DoNotReply@contoso.example", "content": {"subject": "bench"},
                          "recipients": {"to": [{"address": "alice@contoso.example"}]}}},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--channel", choices=sorted(BODIES), default="sms")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the per-attempt warnings and errors; the figures are the point here
    import azure.functions as func

    from archiving import bootstrap
    from tests.badstorage import Answers500, Hung, closed_port, connection_string

    os.environ.update(ARCHIVE_CONTAINER="bench-archive", ARCHIVE_HASH_KEY="bench-hash-key",
                      ACS_CONNECTION_STRING=f"endpoint=https://127.0.0.1:{closed_port()}/;accesskey=YmVuY2g=")
    import function_app

    send = next(f for f in function_app.app.get_functions() if f.get_function_name() == "send_message")
    fn = send.get_user_function()
    raw = json.dumps(BODIES[args.channel]).encode()
    for storage in ("refuses", "hangs", "answers 500"):
        server = Hung() if storage == "hangs" else Answers500() if storage == "answers 500" else None
        port = server.port if server else closed_port()
        os.environ["ArchiveStorage"] = connection_string(port)
        times, codes = [], set()
        for _ in range(args.runs):
            bootstrap.reset()
            req = func.HttpRequest(method="POST", url=f"/api/send/{args.channel}", body=raw,
                                   route_params={"channel": args.channel}, headers={})
            started = time.monotonic()
            codes.add(fn(req=req).status_code)
            times.append(time.monotonic() - started)
        if server:
            server.stop()
        print(f"{storage:12} {args.channel}: status {sorted(codes)}, median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s ({args.runs} runs)")
    bootstrap.reset()
    return 0


if __name__ == "__main__":
    sys.exit(main())
