"""Text-protocol LED board driver against the board simulator: real loopback TCP and a real pty (no mocks)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from gatesim.ledboard import FrameParser, LedBoardSimulator

from edge.ledboard.base import LedBoardError
from edge.ledboard.config import TextLedBoard
from edge.ledboard.messages import queue_call_lines
from edge.ledboard.text import TextLedBoardDriver, build_frame

CALL = queue_call_lines(42, "29C12345", 1)  # MỜI XE SỐ 42 / 29C-123.45 / VÀO BARIE SỐ 1


@pytest.fixture
def sims() -> Iterator[list[LedBoardSimulator]]:
    made: list[LedBoardSimulator] = []
    yield made
    for sim in made:
        sim.close()


def board(sims: list[LedBoardSimulator], sim_kw: dict[str, Any] | None = None,
          **kw: Any) -> tuple[LedBoardSimulator, TextLedBoardDriver]:
    sim = LedBoardSimulator("text", **(sim_kw or {})).start()
    sims.append(sim)
    cfg = TextLedBoard(type="text", host="127.0.0.1", port=sim.port, **({"timeout_s": 0.5} | kw))
    return sim, TextLedBoardDriver(cfg)


def test_frame_layout() -> None:
    cfg = TextLedBoard(type="text", host="h")
    assert build_frame(["SỐ 7", "VÀO"], cfg) == b"\x02" + "SỐ 7".encode() + b"\r" + "VÀO".encode() + b"\x03"
    # frame bytes inside the text are dropped, they would cut the frame
    assert build_frame(["A\x03B\rC"], cfg) == b"\x02AB C\x03"
    ascii_cfg = TextLedBoard(type="text", host="h", encoding="ascii", start="", end="0a", line_separator="7c")
    assert build_frame(["MỜI XE", "A|B"], ascii_cfg) == b"MOI XE|AB\n"


def test_vietnamese_round_trip_utf8(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims)
    drv.show(CALL)
    assert sim.current == CALL
    assert drv.last == CALL
    drv.show(["ĐÃ QUA CỔNG", "Ữ"])
    assert sim.current == ["ĐÃ QUA CỔNG", "Ữ"]
    hist = sim.history_copy()
    assert [h["lines"] for h in hist] == [CALL, ["ĐÃ QUA CỔNG", "Ữ"]]
    assert hist[0]["ts"] <= hist[1]["ts"]
    assert sim.state()["connections_total"] == 1  # one connection kept for both
    drv.release()


def test_ascii_board_gets_transliteration(sims: list[LedBoardSimulator], caplog: pytest.LogCaptureFixture) -> None:
    sim, drv = board(sims, {"encoding": "ascii"}, encoding="ascii")
    with caplog.at_level(logging.WARNING, logger="edge.ledboard.text"):
        drv.show(["MỜI XE SỐ 42 VÀO BÃI CHỜ XUẤT", "桂A12345"])
    assert sim.current == ["MOI XE SO 42 VAO BAI CHO XUAT", "?A12345"]
    assert [r.char for r in caplog.records if r.getMessage() == "ledboard_unshowable_character"] == ["桂"]  # type: ignore[attr-defined]
    drv.release()


def test_utf8_to_an_ascii_board_is_rejected_with_a_clear_error(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims, {"encoding": "ascii"})  # driver left at utf-8: misconfigured
    with pytest.raises(LedBoardError, match=r"board rejected text: NAK"):
        drv.show(["MỜI XE"])
    drv.show(["MOI XE"])
    assert sim.current == ["MOI XE"]
    drv.release()


def test_chars_per_line_cuts_and_centres(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims, chars_per_line=10, align="center")
    drv.show(["SỐ 7", "VÀO BÃI CHỜ XUẤT"])
    assert sim.current == ["   SỐ 7", "VÀO BÃI CH"]
    drv.release()


def test_board_rejects(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims)
    sim.inject(reject_next=2)
    for _ in range(2):
        with pytest.raises(LedBoardError, match="board rejected text: NAK"):
            drv.show(CALL)
    assert sim.current == []
    drv.show(CALL)
    assert sim.current == CALL
    assert sim.state()["rejected"] == 2
    drv.release()


def test_board_silent_times_out_then_recovers(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims, timeout_s=0.3)
    sim.inject(silent=True)
    t0 = time.monotonic()
    with pytest.raises(LedBoardError, match=r"no acknowledgement within 0.3 s \(timeout\)"):
        drv.show(CALL)
    assert 0.25 < time.monotonic() - t0 < 2
    assert sim.current == []
    sim.inject(silent=False)
    drv.show(CALL)
    assert sim.current == CALL
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
    assert sim.current == ["BA"]
    # restarted (or the link cut) between two texts: replaced at once, the text is not lost
    sim.stop()
    sim.start()
    drv.show(["BỐN"])
    assert sim.current == ["BỐN"]
    sim.inject(drop_connections=True)
    drv.show(["NĂM"])
    assert sim.current == ["NĂM"]
    drv.release()


def test_no_ack_configured_does_not_wait(sims: list[LedBoardSimulator]) -> None:
    sim, drv = board(sims, ack=None)
    sim.inject(silent=True)
    t0 = time.monotonic()
    drv.show(["KHÔNG CHỜ"])  # a board that never answers: nothing to wait for
    assert time.monotonic() - t0 < 0.2
    drv.release()


def test_other_reply_is_a_rejection() -> None:
    """A board that answers something else than the ACK (here an error text) is reported with it."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            parser = FrameParser(b"\x02", b"\x03")
            while not parser.feed(conn.recv(100)):
                pass
            conn.sendall(b"ERR 12 bad line")
            time.sleep(0.2)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    drv = TextLedBoardDriver(TextLedBoard(type="text", host="127.0.0.1", port=port, timeout_s=1))
    with pytest.raises(LedBoardError, match=r"board rejected text: 45 52 52.*'ERR 12 bad line'"):
        drv.show(["A"])
    t.join(2)
    srv.close()


def test_serial_line_over_a_pty(sims: list[LedBoardSimulator]) -> None:
    sim = LedBoardSimulator("text", serial=True).start()
    sims.append(sim)
    assert sim.serial_path and sim.serial_path.startswith("/dev/")
    drv = TextLedBoardDriver(TextLedBoard(type="text", transport="serial", serial_port=sim.serial_path,
                                          baudrate=115200, timeout_s=0.5))
    drv.show(CALL)
    assert sim.current == CALL
    sim.inject(reject_next=1)
    with pytest.raises(LedBoardError, match="board rejected text: NAK"):
        drv.show(["X"])
    sim.inject(silent=True)
    with pytest.raises(LedBoardError, match="timeout"):
        drv.show(["Y"])
    sim.inject(silent=False)
    drv.show(["ĐÚNG"])
    assert sim.current == ["ĐÚNG"]
    drv.release()


def test_serial_device_missing() -> None:
    drv = TextLedBoardDriver(TextLedBoard(type="text", transport="serial", serial_port="/dev/nonexistent-ttyLED"))
    with pytest.raises(LedBoardError, match="/dev/nonexistent-ttyLED: cannot connect"):
        drv.show(["A"])


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="standard rate"):
        TextLedBoard(type="text", transport="serial", serial_port="/dev/ttyS0", baudrate=10000)
    with pytest.raises(ValueError, match="needs host"):
        TextLedBoard(type="text")
    with pytest.raises(ValueError, match="line_separator must differ from end"):
        TextLedBoard(type="text", host="h", end="0d", line_separator="0d")
