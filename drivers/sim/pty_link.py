"""A pseudo-terminal pair standing in for a USB-serial adapter: the driver opens the slave path like a real
port; the simulator reads and writes the master. Closing the master is an unplug (the driver's read raises
SerialException exactly as on a real USB disconnect); a replug makes a new pair behind the same symlink,
just as udev re-creates /dev/serial/by-path/… after the kernel re-enumerates the adapter."""

from __future__ import annotations

import contextlib
import os
import select
import termios
import tty
from pathlib import Path

# termios speed constants -> baud, for reading back what the driver set on its end.
_SPEEDS = {
    getattr(termios, f"B{baud}"): baud
    for baud in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
    if hasattr(termios, f"B{baud}")
}


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
        os.set_blocking(master, False)  # write() waits in select(), where an unplug can end the wait
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        if self.link_path is not None:
            tmp = self.link_path.with_name(self.link_path.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_name)
            tmp.replace(self.link_path)

    def host_baudrate(self) -> int | None:
        """The speed the driver set on the slave: a pty shares one termios between both ends, which lets a
        simulator behave like a UART at another speed (garbage both ways) when the two disagree."""
        fd = self._master
        if fd is None:
            return None
        try:
            return _SPEEDS.get(termios.tcgetattr(fd)[5])
        except (OSError, termios.error):
            return None

    def unplug(self) -> None:
        # udev removes the by-path/by-id symlink on unplug; leaving it would point at a pts number the
        # kernel may hand to some other program's terminal.
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()
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
        """False when unplugged or the peer is gone; the caller keeps its schedule either way.

        Waits while the driver is not reading (the pty's buffer is full), as a UART's flow would, but never
        past an unplug or a stop: a blocking write on the master would not wake when the master is closed.
        """
        fd = self._master
        if fd is None:
            return False
        try:
            view = memoryview(data)
            while view:
                _, writable, _ = select.select([], [fd], [], 0.2)
                if self._master != fd:
                    return False  # unplugged (or stopped) meanwhile
                if writable:
                    with contextlib.suppress(BlockingIOError):
                        view = view[os.write(fd, view) :]
            return True
        except (OSError, ValueError):
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
