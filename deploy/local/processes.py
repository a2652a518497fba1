"""Background processes the launcher owns: started detached, tracked by pid file, stopped by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class StartError(RuntimeError):
    pass


@dataclass
class ManagedProcess:
    """One server. `marker` is a string its command line contains, so a recycled pid is not
    mistaken for it."""

    name: str
    argv: Callable[[], list[str]]
    is_healthy: Callable[[], bool]
    marker: str
    var_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[], None] = lambda: None
    start_timeout: float = 60.0
    stop_signal: signal.Signals = signal.SIGTERM

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of our live process, if there is one."""
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        return pid if self.marker in cmdline else None

    def state(self) -> str:
        ours = self.pid() is not None
        healthy = self.is_healthy()
        if ours:
            return "healthy" if healthy else "running, not healthy"
        return "healthy (not started by vestnik)" if healthy else "stopped"

    def up(self) -> str:
        if self.pid() is not None:
            self._wait_healthy()
            return "already running"
        if self.is_healthy():
            return "already served by another process; left alone"
        self.prepare()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,  # its own process group: `down` stops it and its children
            )
        self.pid_file.write_text(str(process.pid))
        self._wait_healthy(process)
        return f"started (pid {process.pid})"

    def _wait_healthy(self, process: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.is_healthy():
                return
            if process is not None and process.poll() is not None:
                raise StartError(
                    f"{self.name} exited with code {process.returncode}; log: {self.log_file}\n"
                    + self._log_tail()
                )
            time.sleep(0.3)
        raise StartError(
            f"{self.name} was not healthy within {self.start_timeout:.0f}s; log: {self.log_file}\n"
            + self._log_tail()
        )

    def down(self, timeout: float = 20.0) -> str:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        os.killpg(pid, self.stop_signal)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            for _ in range(50):
                if not _alive(pid):
                    break
                time.sleep(0.1)
        # It may have turned zombie between two looks: reap it if it is our child, and give the
        # kernel a moment to take the exiting process away.
        for _ in range(50):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return "stopped"

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _alive(pid: int) -> bool:
    # Reap it if it is our child; a zombie would otherwise look alive.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    )
    return status not in {"Z", "X"}
