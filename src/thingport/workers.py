"""Several processes serving one port (``THINGPORT_WORKERS``): the primary and its workers.

The primary is the server a single process would be (it binds the listener, opens the store,
makes the first logins, takes the CLI's commands, serves requests); once its store is open it
starts the other workers, which share its listener (the kernel hands each new connection to one
of them). The workers are forked at its start, before it runs any thread, so that they share
the pages of its imported modules (``forked.py``); a worker that dies is replaced by a new
interpreter. It starts a new worker when one dies and, on SIGTERM or SIGINT, stops them (each
answers its waiting polls 408 and finishes its requests) before it closes the store. What the
processes share goes through the primary, over Unix sockets in a directory only this user can
open:

- on SQLite, the store: the primary owns the one writer and serves it (``store/remote.py``);
  on PostgreSQL every worker opens its own pool and writes, after the primary has migrated;
- without Redis, the bus: the primary's hub relays each process's messages to the others
  (``bus/ipc.py``), and the per-address failure limits (wrong logins, tokens, secrets), which
  the primary keeps for all (``services/failure_limit.py``); with Redis, every process is a
  node of the Redis bus and counts in Redis.

A worker that loses the primary stops, and the kernel stops the workers when the primary dies,
even by SIGKILL, so no worker outlives the store it answers for. Nothing acknowledged is lost
with any of them: a worker answers 200 only after the store has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from thingport import ipc
from thingport.forked import ForkedWorker, die_with_parent
from thingport.services.failure_limit import SERVED
from thingport.settings import Settings
from thingport.store import sqlite_path
from thingport.store.remote import primary_gone, remote_store, serve_store

if TYPE_CHECKING:
    from thingport.services import Services
    from thingport.store.sqlite import SQLiteStore

log = logging.getLogger("thingport")

#: How long the workers get to finish after SIGTERM before they are killed: their own graceful
#: stop (``server.GRACEFUL_SHUTDOWN_S``) and the store's last commit, with room to spare.
STOP_TIMEOUT_S = 15.0
#: A worker that dies sooner than this after its start is restarted only after this long, so
#: that one that cannot start does not spin.
RESTART_DELAY_S = 1.0


def worker_count(settings: Settings) -> int:
    """``THINGPORT_WORKERS``, with 0 meaning one per CPU this process may use."""
    if settings.workers:
        return settings.workers
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Workers:
    """The primary's other workers: forked when this is made, before the primary runs any
    thread; set going once its store is open (and the first logins made), restarted when one
    dies, stopped before the store closes."""

    def __init__(self, settings: Settings, listeners: list[list[socket.socket]],
                 own: list[socket.socket]) -> None:
        """``listeners``: each worker's own listening sockets; ``own``: the primary's, which
        the workers must not hold."""
        self.settings = settings
        #: Each worker's own listening sockets, kept here so that a new worker takes over
        #: the connections waiting for the one that died.
        self.listeners = listeners
        #: Processes besides the primary, which serves requests too.
        self.count = len(listeners)
        self.runtime = Path(tempfile.mkdtemp(prefix="thingport-"))
        self._started_at = [0.0] * self.count
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None
        self._calls = ipc.CallServer(str(self.runtime / "calls.sock"))
        # What exists now stays out of the collector's passes in every process, which would
        # otherwise write to every object and so copy every page they share.
        gc.freeze()
        forked: list[ForkedWorker] = []
        for index in range(self.count):
            forked.append(ForkedWorker.fork(
                partial(worker_main, settings, listeners[index], self.calls_socket,
                        self.bus_socket),
                partial(self._close_in_worker, index, own, list(forked))))
        self._processes: list[subprocess.Popen[bytes] | ForkedWorker | None] = [*forked]

    @property
    def calls_socket(self) -> str:
        """Where the primary answers its workers' calls (the SQLite store, the limits)."""
        return self._calls.path

    @property
    def bus_socket(self) -> str | None:
        """Where the primary's hub listens; None with Redis (every process is a node)."""
        return None if self.settings.redis_url else str(self.runtime / "bus.sock")

    async def start(self, services: Services) -> None:
        """Serve the store (SQLite) and the failure limits (without Redis), and start the
        workers."""
        if sqlite_path(self.settings.store_url) is not None:
            serve_store(self._calls, cast("SQLiteStore", services.store))
        if not self.settings.redis_url:
            for limit in services.failure_limits():
                self._calls.serve(limit.prefix, limit, SERVED)
        await self._calls.start()
        now = time.monotonic()
        for index, process in enumerate(self._processes):
            assert isinstance(process, ForkedWorker)
            process.go()
            self._started_at[index] = now
        log.info("%d worker processes besides this one (pid %d, the primary)", self.count,
                 os.getpid())
        self._watcher = asyncio.create_task(self._watch(), name="thingport-workers")

    def _close_in_worker(self, index: int, own: list[socket.socket],
                         earlier: list[ForkedWorker]) -> None:
        """In worker ``index``, just forked: close the primary's listener, the other workers'
        and their ``go`` pipes."""
        for sockets in [own, *(s for i, s in enumerate(self.listeners) if i != index)]:
            for sock in sockets:
                sock.close()
        for worker in earlier:
            worker.close_pipe()

    def _start(self, index: int) -> None:
        """A new interpreter running ``worker_entry`` in place of a worker that died, its
        listeners inherited and the rest of its arguments pickled on its stdin. Not
        multiprocessing's spawn: that starts a resource tracker, a third interpreter (12 MB)
        that nothing here needs."""
        sockets = self.listeners[index]
        process = subprocess.Popen(
            [sys.executable, "-c", "from thingport.workers import worker_entry; worker_entry()"],
            stdin=subprocess.PIPE, pass_fds=[sock.fileno() for sock in sockets])
        assert process.stdin is not None
        # A worker that died before reading them is seen by ``_watch`` and started again.
        with contextlib.suppress(BrokenPipeError), process.stdin:
            process.stdin.write(pickle.dumps((
                os.getpid(), self.settings, [sock.fileno() for sock in sockets],
                self.calls_socket, self.bus_socket)))
        self._processes[index] = process
        self._started_at[index] = time.monotonic()

    async def _watch(self) -> None:
        """Start a new worker for each that dies, until stopping."""
        while not self._stopping:
            await asyncio.sleep(0.2)
            for index, process in enumerate(self._processes):
                if self._stopping or process is None or process.poll() is None:
                    continue
                log.warning("worker pid %s exited with %s; starting another", process.pid,
                            process.returncode)
                if time.monotonic() - self._started_at[index] < RESTART_DELAY_S:
                    await asyncio.sleep(RESTART_DELAY_S)
                if not self._stopping:
                    self._start(index)

    def terminate(self) -> None:
        """Ask every worker to stop (each ends its waits and finishes its requests)."""
        self._stopping = True
        for process in self._processes:
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)

    async def stop(self) -> None:
        """Stop the workers and wait for them (they may still write), then stop serving."""
        self.terminate()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await asyncio.to_thread(self._join)
        await self._calls.close()
        shutil.rmtree(self.runtime, ignore_errors=True)

    def close_listeners(self) -> None:
        for sockets in self.listeners:
            for sock in sockets:
                sock.close()

    def _join(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self._processes:
            if process is None:
                continue
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %s did not stop in time; killing it", process.pid)
                process.kill()
                process.wait()


def worker_entry() -> None:
    """A replacement worker's start (``Workers._start``): its arguments from stdin. It dies
    with the primary (``die_with_parent``), as a forked one does: at once, so that its
    listener does not take connections meant for the next server on the port. It can finish
    nothing without the primary anyway (on SQLite the store is there), and whatever it
    acknowledged is committed already."""
    primary, settings, fds, calls_socket, bus_socket = pickle.loads(sys.stdin.buffer.read())
    die_with_parent(primary)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the pipe goes; fd 0 stays taken, as in any process
    os.close(devnull)
    sockets = [socket.socket(fileno=fd) for fd in fds]  # family and type read from each
    worker_main(settings, sockets, calls_socket, bus_socket)


def worker_main(settings: Settings, sockets: list[socket.socket], calls_socket: str,
                bus_socket: str | None) -> None:
    """A worker: the whole app, with the primary's store (SQLite), hub and failure limits
    (without Redis)."""
    from thingport.app import create_app
    from thingport.bus.ipc import IpcBus
    from thingport.http.limits import open_files_change
    from thingport.log_config import configure_logging
    from thingport.server import ThingportServer, tune_garbage_collector, uvicorn_config

    configure_logging(settings)
    # The primary says what it did to the open-files limit; a forked worker inherited its note.
    open_files_change()
    primary = ipc.CallClient(calls_socket, primary_gone)
    store = remote_store(primary) if sqlite_path(settings.store_url) else None
    bus = IpcBus(bus_socket) if bus_socket else None
    # The primary takes the CLI's commands; their changes reach the workers over the bus.
    app = create_app(settings, store=store, bus=bus, control=False,
                     primary=None if settings.redis_url else primary)
    tune_garbage_collector()
    server = ThingportServer(uvicorn_config(settings, app), app)

    def primary_lost() -> None:
        if not server.should_exit:
            log.warning("worker pid %d lost the primary process; stopping", os.getpid())
            server.should_exit = True

    primary.on_lost = primary_lost
    if bus is not None:
        bus.on_lost = primary_lost
    server.run(sockets=sockets)
