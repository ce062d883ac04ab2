"""TraitorSim orchestrator: tracks which players have joined and runs days.

Standard library only. Endpoints:
  GET  /health  -> 200 {"status": "ok"}
  POST /join    -> body {"player": N, "url": "..."}; 200 {"role": "traitor"|"faithful"}
  GET  /state   -> {"day": D, "players": {...}}
"""

import argparse
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"day": 0, "players": {}}
TRAITORS = 3


class Handler(BaseHTTPRequestHandler):
    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self._reply(200, {"status": "ok"})
        elif self.path == "/state":
            with LOCK:
                self._reply(200, STATE)
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/join":
            self._reply(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            player = str(int(body["player"]))
        except (ValueError, KeyError):
            self._reply(400, {"error": "expected {\"player\": N, \"url\": ...}"})
            return
        with LOCK:
            traitors = sum(1 for p in STATE["players"].values() if p["role"] == "traitor")
            known = STATE["players"].get(player)
            role = known["role"] if known else ("traitor" if traitors < TRAITORS and random.random() < 0.2 else "faithful")
            STATE["players"][player] = {"role": role, "url": body.get("url"), "alive": True}
        self._reply(200, {"role": role})

    def log_message(self, fmt, *args):
        print("orchestrator:", fmt % args, flush=True)


def run_days(period):
    while True:
        time.sleep(period)
        with LOCK:
            STATE["day"] += 1
            alive = [p for p, v in STATE["players"].items() if v["alive"] and v["role"] == "faithful"]
            if alive:
                victim = random.choice(alive)
                STATE["players"][victim]["alive"] = False
                print(f"Day {STATE['day']}: player {victim} was found murdered this morning.", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--day-seconds", type=float, default=30.0)
    args = parser.parse_args()
    threading.Thread(target=run_days, args=(args.day_seconds,), daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"orchestrator listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
