"""TraitorSim player: joins the orchestrator, then serves its own health endpoint.

Standard library only. The port comes from --port, else from
PLAYER_BASE_PORT (default 9100) + STOCKADE_REPLICA (exported by stockade).
  GET /health -> 200 {"status": "ok", "player": N, "role": ...}
"""

import argparse
import json
import os
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

ROLE = {"role": "unknown"}


def join(orchestrator, player, url):
    body = json.dumps({"player": player, "url": url}).encode()
    request = urllib.request.Request(
        f"{orchestrator}/join", data=body, headers={"Content-Type": "application/json"}
    )
    # The orchestrator is ready before players start (depends_on = "ready"),
    # but retry briefly in case it restarted in between.
    for attempt in range(10):
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return json.load(response)["role"]
        except OSError as error:
            print(f"player {player}: join failed ({error}), retrying", flush=True)
            time.sleep(min(2**attempt * 0.1, 2))
    raise SystemExit(f"player {player}: orchestrator unreachable at {orchestrator}")


class Handler(BaseHTTPRequestHandler):
    player = 0

    def do_GET(self):
        if self.path != "/health":
            self.send_error(404)
            return
        data = json.dumps({"status": "ok", "player": self.player, "role": ROLE["role"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass  # probes every second would drown the log


def main():
    replica = int(os.environ.get("STOCKADE_REPLICA", "0"))
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("PLAYER_BASE_PORT", "9100")) + replica)
    parser.add_argument("--orchestrator", default="http://127.0.0.1:9000")
    args = parser.parse_args()
    Handler.player = replica
    ROLE["role"] = join(args.orchestrator, replica, f"http://127.0.0.1:{args.port}")
    print(f"player {replica} joined as {ROLE['role']}, serving 127.0.0.1:{args.port}", flush=True)
    HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
