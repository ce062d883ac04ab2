"""A real daemon for the tests: `target/debug/stockade daemon` (built by
`.ci/run` first, or `STOCKADE_BIN`) on a temp spec, stopped by its pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

SPEC = """
[daemon]
state_dir = "state"

[service.router]
command = ["sleep", "600"]
isolation = "none"

[job.agent]
command = ["sh", "-c", "echo task \\"$@\\" seed=$SEED; echo oops >&2", "agent"]
submit_env = ["SEED"]
isolation = "none"

[job.broken]
command = ["sh", "-c", "echo dying; exit 3"]
isolation = "none"

[job.slow]
command = ["sleep", "30"]
isolation = "none"

[job.quick]
command = ["true"]
isolation = "none"

[pool.default]
max_concurrency = 16
"""


def binary() -> Path:
    if os.environ.get("STOCKADE_BIN"):
        return Path(os.environ["STOCKADE_BIN"])
    root = Path(__file__).resolve().parents[3]
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    return target / "debug" / "stockade"


class Daemon:
    """One daemon process on a spec in its own temp dir."""

    def __init__(self, spec: str = SPEC) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="stockade-sdk-"))
        self.spec = self.dir / "stockade.toml"
        self.spec.write_text(spec)
        self.socket = self.dir / "state" / "stockade.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.dir / "daemon.log", "ab")
        self.proc = subprocess.Popen(
            [str(binary()), "-f", str(self.spec), "daemon"], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.socket.exists():
                try:
                    t = httpx.HTTPTransport(uds=str(self.socket))
                    with httpx.Client(transport=t, base_url="http://s", timeout=2) as c:
                        if c.get("/health/live").status_code == 200:
                            return
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"daemon did not start: {(self.dir / 'daemon.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        """Stop the daemon and remove its temp dir (spec, state, log)."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    d = Daemon()
    d.start()
    yield d
    d.close()
