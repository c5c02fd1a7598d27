"""A pseudo-terminal pair standing in for a USB-serial adapter: the driver opens the slave path like a real
port; the simulator reads and writes the master. Closing the master is an unplug (the driver's read raises
SerialException exactly as on a real USB disconnect); a replug makes a new pair behind the same symlink,
just as udev re-creates /dev/serial/by-path/… after the kernel re-enumerates the adapter."""

from __future__ import annotations

import contextlib
import os
import select
import tty
from pathlib import Path


class PtyLink:
    def __init__(self, link_path: Path | None = None) -> None:
        self.link_path = link_path
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_name = ""
        self.plug()

    @property
    def port(self) -> str:
        """What a driver should open: the stable symlink when there is one."""
        return str(self.link_path) if self.link_path else self.slave_name

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: bytes pass through untouched
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        if self.link_path is not None:
            tmp = self.link_path.with_name(self.link_path.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_name)
            tmp.replace(self.link_path)

    def unplug(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def close(self) -> None:
        self.unplug()
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()

    def write(self, data: bytes) -> bool:
        """False when unplugged or the peer is gone; the caller keeps its schedule either way."""
        fd = self._master
        if fd is None:
            return False
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            return True
        except OSError:
            return False

    def read(self, timeout_s: float) -> bytes:
        fd = self._master
        if fd is None:
            return b""
        try:
            ready, _, _ = select.select([fd], [], [], timeout_s)
            return os.read(fd, 4096) if ready else b""
        except (OSError, ValueError):
            return b""
