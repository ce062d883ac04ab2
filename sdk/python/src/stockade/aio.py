"""The async client: drives the same core operations over `httpx.AsyncClient`.

Only the transport differs from `sync`; every operation's logic is in `core`."""

from __future__ import annotations

import builtins
import json
import os
import asyncio
from typing import Any, AsyncIterator, Iterable, Mapping, Sequence, TypeVar

import httpx
import httpx_sse

from . import core
from . import models as m
from .errors import DaemonUnreachable, StockadeError

T = TypeVar("T")


class AsyncClient:
    """A connection to one daemon. `AsyncClient()` finds its socket the way the CLI
    does; `Client(base_url=..., token=...)` talks TCP."""

    def __init__(
        self,
        socket: str | os.PathLike[str] | None = None,
        *,
        base_url: str | None = None,
        token: str | None = None,
        spec: str | os.PathLike[str] | None = None,
        timeout: float = core.DEFAULT_TIMEOUT,
    ) -> None:
        self.endpoint = core.discover(socket, base_url, token, spec)
        transport = httpx.AsyncHTTPTransport(uds=self.endpoint.socket) if self.endpoint.socket else None
        headers = {"authorization": f"Bearer {self.endpoint.token}"} if self.endpoint.token else {}
        self.http = httpx.AsyncClient(
            transport=transport, base_url=self.endpoint.base_url, headers=headers, timeout=timeout
        )
        self.jobs = AsyncJobs(self)
        self.services = AsyncServices(self)
        self.queue = AsyncQueue(self)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def status(self) -> Mapping[str, Any]:
        return await self.run_op(core.status())

    def _where(self) -> str:
        return self.endpoint.socket or self.endpoint.base_url

    async def _send(self, call: core.Call) -> Any:
        tries = 3 if call.retry else 1
        for attempt in range(tries):
            try:
                r = await self.http.request(
                    call.method, call.path, params=call.params, json=call.body, headers=call.headers
                )
                return core.parse(call, r.status_code, r.headers, r.content)
            except (httpx.ConnectError, httpx.RemoteProtocolError, PermissionError) as e:
                if attempt + 1 == tries:
                    raise DaemonUnreachable(self._where(), str(e)) from e
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def run_op(self, op: core.Op[T]) -> T:
        try:
            step = next(op)
            while True:
                if isinstance(step, core.Sleep):
                    await asyncio.sleep(step.seconds)
                    step = op.send(None)
                else:
                    step = op.send(await self._send(step))
        except StopIteration as done:
            result: T = done.value
            return result

    async def events(
        self,
        since: int | None = None,
        types: Sequence[str] | None = None,
        unit: str | None = None,
    ) -> AsyncIterator[m.Event]:
        """Every event after `since` (or from now), for ever; reconnects after
        a daemon restart and resumes with `Last-Event-ID`, honouring `retry:`."""
        params = core.events_params(since, types, unit)
        last: str | None = None
        delay = 1.0
        while True:
            try:
                async with httpx_sse.aconnect_sse(
                    self.http,
                    "GET",
                    "/api/events",
                    params=params,
                    headers=core.resume_headers(last),
                    timeout=httpx.Timeout(self.http.timeout.connect, read=None),
                ) as source:
                    r = source.response
                    if r.status_code != 200:
                        await r.aread()
                        core.parse(core.Call("GET", "/api/events"), r.status_code, r.headers, r.content)
                    async for sse in source.aiter_sse():
                        if sse.retry is not None:
                            delay = sse.retry / 1000
                        if sse.id:
                            last = sse.id
                        if sse.data:
                            yield m.event(json.loads(sse.data))
            except (httpx.TransportError, PermissionError):
                pass
            await asyncio.sleep(delay)


class AsyncJob:
    """A handle on one job."""

    def __init__(self, client: AsyncClient, submitted: m.Submitted) -> None:
        self.client = client
        self.id = submitted.id
        self.submitted = submitted

    def __repr__(self) -> str:
        return f"AsyncJob({self.id})"

    async def info(self) -> m.JobInfo:
        return await self.client.run_op(core.get_job(self.id))

    async def wait(self, timeout: float | None = None) -> m.JobInfo:
        """Until it ends: its view, or `JobFailed` with `.cause` and `.postmortem`."""
        return await self.client.run_op(core.wait(self.id, timeout))

    async def cancel(self) -> m.JobInfo:
        return await self.client.run_op(core.cancel(self.id))

    async def logs(self, follow: bool = False) -> AsyncIterator[m.LogLine]:
        """Its output, record by record; with `follow`, until the job ends,
        reconnecting after a daemon restart and resuming exactly (no gap, no
        duplicate) with `Last-Event-ID`."""
        path = f"/api/jobs/{self.id}/logs"
        if not follow:
            for line in await self.client.run_op(core.job_logs(self.id)):
                yield line
            return
        last: str | None = None
        delay = 1.0
        while True:
            try:
                async with httpx_sse.aconnect_sse(
                    self.client.http,
                    "GET",
                    path,
                    params=core.logs_params(True),
                    headers=core.resume_headers(last),
                    timeout=httpx.Timeout(self.client.http.timeout.connect, read=None),
                ) as source:
                    r = source.response
                    if r.status_code != 200:
                        await r.aread()
                        core.parse(core.Call("GET", path), r.status_code, r.headers, r.content)
                    async for sse in source.aiter_sse():
                        if sse.retry is not None:
                            delay = sse.retry / 1000
                        if sse.event == "end":
                            if core.log_end(sse.data) == "ended":
                                return
                            break  # the daemon is stopping: resume once it is back
                        if sse.id:
                            last = sse.id
                        if sse.data:
                            yield m.log_line(json.loads(sse.data))
            except (httpx.TransportError, PermissionError):
                pass
            await asyncio.sleep(delay)


class AsyncJobs:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def submit(
        self,
        template: str,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        *,
        priority: int | None = None,
        idempotency_key: str | None = None,
    ) -> AsyncJob:
        item = core.job_request(template, args, env, priority, idempotency_key)
        return AsyncJob(self.client, await self.client.run_op(core.submit(item)))

    async def submit_many(self, items: Iterable[Mapping[str, Any]]) -> builtins.list[AsyncJob]:
        """Batches of up to 1000 per request; each item as `job_request` builds it
        (`{"template", "args", "env", "priority", "idempotency_key"}`)."""
        return [AsyncJob(self.client, s) for s in await self.client.run_op(core.submit_many(items))]

    async def get(self, job: int) -> m.JobInfo:
        return await self.client.run_op(core.get_job(job))

    async def list(
        self, states: Sequence[str] = (), template: str | None = None, limit: int | None = None
    ) -> builtins.list[m.JobInfo]:
        return await self.client.run_op(core.list_jobs(states, template, limit))


class AsyncServices:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def list(self) -> builtins.list[Mapping[str, Any]]:
        return await self.client.run_op(core.services())

    async def start(self, name: str) -> builtins.list[Mapping[str, Any]]:
        return await self.client.run_op(core.service_action(name, "start"))

    async def stop(self, name: str) -> builtins.list[Mapping[str, Any]]:
        return await self.client.run_op(core.service_action(name, "stop"))

    async def restart(self, name: str) -> builtins.list[Mapping[str, Any]]:
        return await self.client.run_op(core.service_action(name, "restart"))


class AsyncQueue:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def status(self) -> m.QueueStatus:
        return await self.client.run_op(core.queue_status())


__all__ = ["AsyncClient", "AsyncJob", "AsyncJobs", "AsyncServices", "AsyncQueue", "StockadeError"]
