"""``gate-sim ledboard``: the simulator as a process, driven by the real drivers, steered over HTTP JSON."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from edge.ledboard.base import LedBoardError
from edge.ledboard.config import ModbusLedBoard, TextLedBoard
from edge.ledboard.messages import queue_call_lines
from edge.ledboard.modbus import ModbusLedBoardDriver
from edge.ledboard.text import TextLedBoardDriver

CALL = queue_call_lines(42, "29C12345", 1)


def http(port: int, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class SimProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from gatesim.cli import main; main()", "ledboard", "--port", "0",
             "--control-port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"gate-sim ledboard did not start: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.info = json.loads(line)
        assert self.info["event"] == "listening"

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        return self.proc.returncode, out


@pytest.fixture
def text_sim() -> Iterator[SimProcess]:
    sim = SimProcess("--protocol", "text")
    yield sim
    if sim.proc.poll() is None:
        sim.proc.kill()
        sim.proc.communicate()


def test_text_board_process_with_control_interface(text_sim: SimProcess) -> None:
    ctl = text_sim.info["control_port"]
    drv = TextLedBoardDriver(TextLedBoard(type="text", host="127.0.0.1", port=text_sim.info["port"], timeout_s=0.3))
    drv.show(CALL)
    code, state = http(ctl, "/state")
    assert code == 200
    assert state["protocol"] == "text" and state["current"] == CALL and state["frames"] == 1
    # reject the next frame
    assert http(ctl, "/inject", {"reject_next": 1})[1]["reject_next"] == 1
    with pytest.raises(LedBoardError, match="board rejected text: NAK"):
        drv.show(["BỊ TỪ CHỐI"])
    # go silent
    http(ctl, "/inject", {"silent": True})
    with pytest.raises(LedBoardError, match="timeout"):
        drv.show(["KHÔNG TRẢ LỜI"])
    http(ctl, "/inject", {"silent": False})
    drv.show(["LẠI"])
    # drop the connection: the driver reconnects by itself
    assert http(ctl, "/inject", {"drop_connections": True})[0] == 200
    drv.show(["SAU KHI NGẮT"])
    code, hist = http(ctl, "/history")
    assert [h["lines"] for h in hist] == [CALL, ["LẠI"], ["SAU KHI NGẮT"]]
    assert all("t" in h and "ts" in h for h in hist)
    state = http(ctl, "/state")[1]
    assert (state["frames"], state["rejected"], state["ignored"]) == (5, 1, 1)
    # bad requests are answered, not crashed on
    assert http(ctl, "/nothing")[0] == 404
    assert http(ctl, "/inject", {"explode": True})[0] == 400
    assert http(ctl, "/reset", {})[1]["displayed"] == 0
    drv.release()
    rc, out = text_sim.stop()
    assert rc == 0
    displays = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [d["lines"] for d in displays if d["event"] == "display"][0] == CALL


def test_modbus_board_process() -> None:
    sim = SimProcess("--protocol", "modbus", "--charset", "ascii", "--chars-per-line", "16", "--unit-id", "5")
    try:
        drv = ModbusLedBoardDriver(ModbusLedBoard(type="modbus", host="127.0.0.1", port=sim.info["port"], unit_id=5,
                                                  chars_per_line=16, charset="ascii", align="left",
                                                  timeout_s=0.3))
        drv.show(CALL)
        state = http(sim.info["control_port"], "/state")[1]
        assert state["protocol"] == "modbus"
        assert state["current"] == ["MOI XE SO 42", "29C-123.45", "VAO BARIE SO 1"]
        http(sim.info["control_port"], "/inject", {"reject_next": 1})
        with pytest.raises(LedBoardError, match="board rejected text"):
            drv.show(["X"])
        http(sim.info["control_port"], "/inject", {"silent": True})
        with pytest.raises(LedBoardError, match="no answer"):
            drv.show(["Y"])
        drv.release()
    finally:
        rc, _ = sim.stop()
    assert rc == 0


def test_reject_rate_is_seeded() -> None:
    from gatesim.ledboard import LedBoardSimulator

    results = []
    for _ in range(2):
        with LedBoardSimulator("text", reject_rate=0.5, seed=7) as sim:
            drv = TextLedBoardDriver(TextLedBoard(type="text", host="127.0.0.1", port=sim.port, timeout_s=0.5))
            outcome = []
            for i in range(20):
                try:
                    drv.show([str(i)])
                    outcome.append(True)
                except LedBoardError:
                    outcome.append(False)
            drv.release()
            results.append(outcome)
    assert results[0] == results[1]
    assert 3 < results[0].count(False) < 17


def test_command_is_registered_and_refuses_a_busy_port() -> None:
    from gatesim.cli import cli
    from gatesim.ledboard import LedBoardSimulator

    runner = CliRunner()
    assert "ledboard" in runner.invoke(cli, ["--help"]).output
    with LedBoardSimulator("text") as busy:
        result = runner.invoke(cli, ["ledboard", "--port", str(busy.port)])
    assert result.exit_code != 0
    assert "cannot start the board simulator" in result.output
