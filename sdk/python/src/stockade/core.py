"""The sans-IO core: every operation is a generator that yields what it needs
(an HTTP `Call`, or a `Sleep`) and receives the parsed answer. The sync and
async clients only drive these generators with their own transport, so the
logic exists once.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator, Iterable, Mapping, Sequence, TypeVar, cast

from . import models as m
from .errors import JobFailed, WaitTimeout, from_response

T = TypeVar("T")

#: The most jobs sent in one `POST /api/jobs` by `submit_many` (the daemon
#: takes bodies up to 2 MiB).
BATCH = 1000
#: How long a non-stream call may take, in seconds, unless the client says.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Call:
    """One HTTP request. `retry`: safe to send again after a connection error
    (reads, and submissions that carry an idempotency key)."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Any = None
    headers: Mapping[str, str] | None = None
    retry: bool = True
    missing_ok: bool = False


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = Call | Sleep
Op = Generator[Step, Any, T]


def parse(call: Call, status: int, headers: Mapping[str, str], content: bytes) -> Any:
    """The JSON of a 2xx answer; the mapped exception otherwise (`None` for a
    404 when the call says it may be missing)."""
    body: Any = None
    if content:
        try:
            body = json.loads(content)
        except ValueError:
            body = content.decode("utf-8", "replace")
    if 200 <= status < 300:
        return body
    if status == 404 and call.missing_ok:
        return None
    raise from_response(status, body, headers.get("retry-after"))


def job_request(
    template: str,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    priority: int | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """One item of a submission, as the wire wants it."""
    item: dict[str, Any] = {"template": template, "args": list(args), "env": dict(env or {})}
    if priority is not None:
        item["priority"] = priority
    if idempotency_key is not None:
        item["idempotency_key"] = idempotency_key
    return item


def submit(item: Mapping[str, Any]) -> Op[m.Submitted]:
    key = item.get("idempotency_key")
    body = {k: v for k, v in item.items() if k != "idempotency_key"}
    headers = {"Idempotency-Key": str(key)} if key is not None else None
    # Retried after a lost connection only with a key: without one a retry
    # could queue the job twice.
    answer = yield Call("POST", "/api/jobs", body=body, headers=headers, retry=key is not None)
    return m.submitted(cast(m.JsonObj, answer))


def submit_many(items: Iterable[Mapping[str, Any]]) -> Op[list[m.Submitted]]:
    items = list(items)
    out: list[m.Submitted] = []
    for start in range(0, len(items), BATCH):
        chunk = items[start : start + BATCH]
        keyed = all(i.get("idempotency_key") is not None for i in chunk)
        answer = yield Call("POST", "/api/jobs", body=chunk, retry=keyed)
        out.extend(m.submitted(a) for a in cast(list[m.JsonObj], answer))
    return out


def get_job(job: int) -> Op[m.JobInfo]:
    answer = yield Call("GET", f"/api/jobs/{job}")
    return m.job_info(cast(m.JsonObj, answer))


def cancel(job: int) -> Op[m.JobInfo]:
    answer = yield Call("DELETE", f"/api/jobs/{job}", retry=False)
    return m.job_info(cast(m.JsonObj, answer))


def list_jobs(
    states: Sequence[str] = (), template: str | None = None, limit: int | None = None
) -> Op[list[m.JobInfo]]:
    """Every page, until `limit` jobs or the last page."""
    params: dict[str, str] = {"limit": str(min(limit or 1000, 1000))}
    if states:
        params["state"] = ",".join(states)
    if template is not None:
        params["template"] = template
    out: list[m.JobInfo] = []
    while True:
        page = cast(m.JsonObj, (yield Call("GET", "/api/jobs", params=dict(params))))
        out.extend(m.job_info(j) for j in cast(list[m.JsonObj], page["items"]))
        nxt = page.get("next")
        if nxt is None or (limit is not None and len(out) >= limit):
            return out[:limit] if limit is not None else out
        params["cursor"] = str(nxt)


def wait(job: int, timeout: float | None) -> Op[m.JobInfo]:
    """Poll until the job ends: its view if it succeeded, else `JobFailed`
    with its cause and post-mortem."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.02
    while True:
        info = yield from get_job(job)
        if info.finished:
            break
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeout(0, "wait_timeout", f"job {job} is still {info.state}", "wait longer")
        yield Sleep(delay)
        delay = min(delay * 2, 0.5)
    if info.state == "succeeded":
        return info
    pm = yield Call("GET", "/api/postmortems", params={"job": str(job)}, missing_ok=True)
    raise JobFailed(job, info.state, info.cause, info.reason, cast(m.JsonObj | None, pm))


def service_action(name: str, action: str) -> Op[list[m.JsonObj]]:
    answer = yield Call("POST", f"/api/services/{name}/{action}", retry=False)
    return cast(list[m.JsonObj], answer)


def services() -> Op[list[m.JsonObj]]:
    out: list[m.JsonObj] = []
    params: dict[str, str] = {"limit": "10000"}
    while True:
        page = cast(m.JsonObj, (yield Call("GET", "/api/services", params=dict(params))))
        out.extend(cast(list[m.JsonObj], page["items"]))
        if page.get("next") is None:
            return out
        params["cursor"] = str(page["next"])


def queue_status() -> Op[m.QueueStatus]:
    answer = yield Call("GET", "/api/queue/status")
    return m.queue_status(cast(m.JsonObj, answer))


def status() -> Op[m.JsonObj]:
    answer = yield Call("GET", "/api/status")
    return cast(m.JsonObj, answer)


def events_params(since: int | None, types: Sequence[str] | None, unit: str | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if since is not None:
        params["since"] = str(since)
    if types:
        params["type"] = ",".join(types)
    if unit is not None:
        params["unit"] = unit
    return params


def resume_headers(last_id: str | None) -> dict[str, str]:
    """`Last-Event-ID` once an event was seen: the daemon replays from its store."""
    return {"Last-Event-ID": last_id} if last_id is not None else {}


def logs_params(follow: bool) -> dict[str, str]:
    return {"follow": "true" if follow else "false"}


def job_logs(job: int) -> Op[list[m.LogLine]]:
    answer = yield Call("GET", f"/api/jobs/{job}/logs")
    return log_page(answer)


def log_page(obj: Any) -> list[m.LogLine]:
    """The records of a `GET .../logs` page."""
    return [m.log_line(cast(m.JsonObj, line)) for line in cast(m.JsonObj, obj)["lines"]]


def log_end(data: str) -> str:
    """Why a log follow ended: `ended` (everything was sent) or `daemon_stopping`."""
    return str(cast(m.JsonObj, json.loads(data)).get("reason", "ended"))


@dataclass(frozen=True)
class Endpoint:
    """Where the daemon is: a Unix socket, or a base URL with a token."""

    socket: str | None
    base_url: str
    token: str | None


def discover(
    socket: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    token: str | None = None,
    spec: str | os.PathLike[str] | None = None,
) -> Endpoint:
    """`socket`, else `base_url` (+ `token`/`STOCKADE_TOKEN`), else
    `STOCKADE_SOCKET`, else the spec's (`spec`, `STOCKADE_FILE` or
    `./stockade.toml`) `state_dir`/`stockade.sock` — as the CLI finds it."""
    if socket is not None:
        return Endpoint(os.fspath(socket), "http://stockade", token)
    if base_url is not None:
        return Endpoint(None, base_url.rstrip("/"), token or os.environ.get("STOCKADE_TOKEN"))
    env = os.environ.get("STOCKADE_SOCKET")
    if env:
        return Endpoint(env, "http://stockade", token)
    path = Path(spec or os.environ.get("STOCKADE_FILE") or "stockade.toml")
    state_dir = path.parent / ".stockade"
    daemon: Mapping[str, Any] = {}
    try:
        table: object = tomllib.loads(path.read_text()).get("daemon", {})
        if isinstance(table, dict):
            daemon = cast(Mapping[str, Any], table)
    except (OSError, tomllib.TOMLDecodeError):
        pass
    if "state_dir" in daemon:
        state_dir = path.parent / str(daemon["state_dir"])
    for listen in cast(list[Any], daemon.get("listen", [])):
        text = str(listen)
        if text.startswith("unix:"):
            return Endpoint(str(path.parent / text[5:]), "http://stockade", token)
    return Endpoint(str(state_dir / "stockade.sock"), "http://stockade", token)
