"""Modbus LED board driver against the board simulator over real loopback sockets (no mocks)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from gatesim.ledboard import LedBoardSimulator
from pymodbus.client import ModbusTcpClient

from edge.ledboard.base import LedBoardError
from edge.ledboard.config import ModbusLedBoard
from edge.ledboard.messages import queue_call_lines
from edge.ledboard.modbus import ModbusLedBoardDriver

CALL = queue_call_lines(42, "29C12345", 1)  # MỜI XE SỐ 42 / 29C-123.45 / VÀO BARIE SỐ 1


@pytest.fixture
def sims() -> Iterator[list[LedBoardSimulator]]:
    made: list[LedBoardSimulator] = []
    yield made
    for sim in made:
        sim.close()


def board(sims: list[LedBoardSimulator], **kw: Any) -> tuple[LedBoardSimulator, ModbusLedBoardDriver]:
    sim_kw = {k: kw[k] for k in ("lines", "chars_per_line", "start_register", "unit_id", "charset") if k in kw}
    sim = LedBoardSimulator("modbus", **sim_kw).start()
    sims.append(sim)
    cfg = ModbusLedBoard(type="modbus", host="127.0.0.1", port=sim.port, timeout_s=kw.pop("timeout_s", 0.5),
                         **{k: v for k, v in kw.items() if k != "board_charset"})
    return sim, ModbusLedBoardDriver(cfg)


def shown(sim: LedBoardSimulator) -> list[str]:
    return [line.strip() for line in sim.current]


def registers(sim: LedBoardSimulator, address: int, count: int, unit: int = 1) -> list[int]:
    """Read the board's registers with a separate client: what is really stored."""
    client = ModbusTcpClient("127.0.0.1", port=sim.port, timeout=1, retries=0)
    try:
        assert client.connect()
        rr = client.read_holding_registers(address, count=count, device_id=unit)
        assert not rr.isError()
        return list(rr.registers)
    finally:
        client.close()


def test_vietnamese_round_trip_one_code_point_per_register(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims, start_register=100, unit_id=3, align="left")
    drv.show(CALL)
    assert shown(sim) == CALL
    assert drv.last == CALL
    regs = registers(sim, 100, 60, unit=3)
    line1 = "".join(chr(v) for v in regs[:20])
    assert line1 == "MỜI XE SỐ 42".ljust(20)
    assert regs[1] == 0x1EDC  # Ờ: precomposed, in the BMP, one register
    assert [chr(v) for v in regs[20:30]] == list("29C-123.45")
    entry = sim.history_copy()[-1]
    assert entry["t"].endswith("Z") or entry["t"].endswith("+00:00")
    assert entry["ts"] == pytest.approx(time.time(), abs=5)
    drv.release()


def test_lines_are_centred_cut_and_cleared(sims: list[LedBoardSimulator], caplog: pytest.LogCaptureFixture) -> None:
    sim, drv = board(sims, chars_per_line=12)
    drv.show(["SỐ 7", "VÀO BÃI CHỜ XUẤT NGAY", "X"])
    assert sim.current == ["    SỐ 7", "VÀO BÃI CHỜ", "     X"]  # board layout: trailing spaces not shown
    with caplog.at_level(logging.WARNING, logger="edge.ledboard.modbus"):
        drv.show(["A", "B", "C", "D (no fourth line on this board)"])
    assert shown(sim) == ["A", "B", "C"]
    assert any(r.getMessage() == "ledboard_lines_dropped" for r in caplog.records)
    drv.show(["ONLY ONE"])  # the old second and third lines are cleared
    assert shown(sim) == ["ONLY ONE", "", ""]
    drv.release()


def test_ascii_board_gets_transliteration(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims, charset="ascii", chars_per_line=32, align="left")
    drv.show(["MỜI XE SỐ 42 VÀO BÃI CHỜ XUẤT", "Đồng Đăng"])
    assert shown(sim) == ["MOI XE SO 42 VAO BAI CHO XUAT", "Dong Dang", ""]
    assert all(v < 0x80 for v in registers(sim, 0, 96))
    drv.release()


def test_chinese_plate_on_ascii_board_falls_back_and_logs(sims: list[LedBoardSimulator],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    sim, drv = board(sims, charset="ascii")
    with caplog.at_level(logging.WARNING, logger="edge.ledboard.modbus"):
        drv.show(queue_call_lines(43, "桂A12345"))
        drv.show(queue_call_lines(44, "桂A12346"))
    assert shown(sim) == ["MOI XE SO 44", "?A12346", "VAO BARIE SO 1"]
    warned = [r for r in caplog.records if r.getMessage() == "ledboard_unshowable_character"]
    assert len(warned) == 1  # once per character, not per text
    assert warned[0].char == "桂" and warned[0].shown_as == "?"  # type: ignore[attr-defined]
    drv.release()


def test_unicode_board_shows_chinese_plate_characters(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims)
    drv.show(queue_call_lines(43, "桂A12345"))
    assert shown(sim)[1] == "桂A12345"
    drv.release()


def test_unicode_text_to_an_ascii_only_board_is_rejected(sims: list[LedBoardSimulator]) -> None:
    """A board configured wrongly (driver unicode, board ASCII) answers an exception: a clear error."""
    sim = LedBoardSimulator("modbus", charset="ascii").start()
    sims.append(sim)
    drv = ModbusLedBoardDriver(ModbusLedBoard(type="modbus", host="127.0.0.1", port=sim.port, timeout_s=0.5))
    with pytest.raises(LedBoardError, match="board rejected text.*exception code 3"):
        drv.show(["MỜI XE"])
    drv.show(["MOI XE"])
    assert shown(sim)[0] == "MOI XE"
    drv.release()


def test_board_rejects(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims)
    sim.inject(reject_next=1)
    with pytest.raises(LedBoardError, match="board rejected text.*exception code 4"):
        drv.show(CALL)
    assert sim.current == []
    drv.show(CALL)  # the next one goes through (a fresh connection)
    assert shown(sim) == CALL
    assert sim.state()["rejected"] == 1
    drv.release()


def test_board_silent_times_out_then_recovers(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims, timeout_s=0.3)
    drv.show(["TRƯỚC"])
    sim.inject(silent=True)
    t0 = time.monotonic()
    with pytest.raises(LedBoardError, match="no answer within 0.3 s"):
        drv.show(["SAU"])
    assert time.monotonic() - t0 < 2
    assert shown(sim)[0] == "TRƯỚC"  # a silent board took nothing
    sim.inject(silent=False)
    drv.show(["SAU"])
    assert shown(sim)[0] == "SAU"
    drv.release()


def test_board_restart_next_show_reconnects(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims)
    drv.show(["MỘT"])
    port = sim.port
    sim.stop()
    with pytest.raises(LedBoardError, match="cannot connect"):
        drv.show(["HAI"])
    sim.start()
    assert sim.port == port
    drv.show(["BA"])
    assert shown(sim)[0] == "BA"
    # restarted between two texts: the stale connection is replaced at once, nothing is lost
    before = sim.state()["connections_total"]
    sim.stop()
    sim.start()
    drv.show(["BỐN"])
    assert shown(sim)[0] == "BỐN"
    assert sim.state()["connections_total"] == before + 1
    drv.release()


def test_dropped_connection_and_release(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims)
    drv.show(["A"])
    sim.inject(drop_connections=True)
    assert sim.wait_for(lambda s: s.state()["connections"] == 0)
    drv.show(["B"])
    assert shown(sim)[0] == "B"
    drv.release()
    assert sim.wait_for(lambda s: s.state()["connections"] == 0)
    drv.show(["C"])  # release() frees the link; a later show opens a new one
    assert shown(sim)[0] == "C"
    drv.release()


def test_no_board_listening() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        drv = ModbusLedBoardDriver(ModbusLedBoard(type="modbus", host="127.0.0.1", port=port, timeout_s=0.3))
        t0 = time.monotonic()
        with pytest.raises(LedBoardError, match=f"127.0.0.1:{port}.*cannot connect"):
            drv.show(["A"])
        assert time.monotonic() - t0 < 2


def test_large_board_is_written_in_several_requests(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims, lines=8, chars_per_line=40, align="left")  # 320 registers > 123 per write
    text = [f"DÒNG {i} " + "Ữ" * 30 for i in range(8)]
    drv.show(text)
    assert shown(sim) == [t[:40].rstrip() for t in text]
    assert [chr(v) for v in registers(sim, 300, 20)] == list(text[7].ljust(40)[20:40])
    drv.release()


def test_register_range_must_fit() -> None:
    with pytest.raises(ValueError, match="past register 65535"):
        ModbusLedBoard(type="modbus", host="h", start_register=65500, lines=3, chars_per_line=20)
