"""The launcher's process handling, on a real background process (no broker needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deploy.local.processes import ManagedProcess, StartError
from deploy.local.stack import http_ok
from tests.conftest import free_port


def a_web_server(var: Path, port: int) -> ManagedProcess:
    return ManagedProcess(
        name="web",
        argv=lambda: [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        marker=f"http.server {port}",
        is_healthy=lambda: http_ok(f"http://127.0.0.1:{port}/"),
        var_dir=var,
        start_timeout=15,
    )


def test_up_is_idempotent_and_down_stops_what_up_started(tmp_path: Path) -> None:
    server = a_web_server(tmp_path, free_port())
    assert server.state() == "stopped"

    assert server.up().startswith("started")
    pid = server.pid()
    assert pid is not None
    assert server.state() == "healthy"
    assert server.up() == "already running"
    assert server.pid() == pid

    assert server.down() == "stopped"
    assert not Path(f"/proc/{pid}").exists()
    assert server.state() == "stopped"
    assert server.down() == "not running"


def test_a_server_it_did_not_start_is_left_alone(tmp_path: Path) -> None:
    port = free_port()
    ours = a_web_server(tmp_path / "ours", port)
    ours.up()
    try:
        theirs = a_web_server(tmp_path / "theirs", port)
        assert theirs.up() == "already served by another process; left alone"
        assert theirs.down() == "not running"
        assert ours.state() == "healthy"
    finally:
        ours.down()


def test_a_server_that_dies_at_start_names_its_log(tmp_path: Path) -> None:
    broken = ManagedProcess(
        name="broken",
        argv=lambda: [sys.executable, "-c", "import sys; print('no config'); sys.exit(3)"],
        marker="no config",
        is_healthy=lambda: False,
        var_dir=tmp_path,
    )
    with pytest.raises(StartError) as raised:
        broken.up()
    message = str(raised.value)
    assert "exited with code 3" in message
    assert str(tmp_path / "log" / "broken.log") in message
    assert "no config" in message
