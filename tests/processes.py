"""Which process of a live server holds a connection (for tests of several workers)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server's end of the connection from ``client_port`` on loopback."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if (int(local.rsplit(":", 1)[1], 16) == server_port
                        and int(remote.rsplit(":", 1)[1], 16) == client_port):
                    return int(fields[9])
    return None


def holder(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server's end of the connection from ``client_port``."""
    inode = _inode(server_port, client_port)
    if inode is None:
        return None
    wanted = f"socket:[{inode}]"
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == wanted:
                    return pid
        except OSError:
            continue
    return None


def client_port(response: httpx.Response) -> int:
    """The local port of the connection that carried ``response``."""
    stream = response.extensions["network_stream"]
    sock: socket.socket = stream.get_extra_info("socket")
    return int(sock.getsockname()[1])
