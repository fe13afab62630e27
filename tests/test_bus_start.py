"""A node started while its Redis does not answer says so at start (one warning naming the
server, its password masked), instead of starting quietly and refusing every write."""

from __future__ import annotations

import logging
import socket

import pytest
from redis.exceptions import AuthenticationError

from collab.bus import RedisBus
from collab.bus.redis import _why
from tests.helpers.redis import RedisServer


class Listener:
    def bus_down(self, reason: str) -> None:
        raise AssertionError("not connected, so never down")

    def __getattr__(self, name: str) -> object:
        return lambda *args: None


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_redis_at_start_is_a_warning_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = closed_port()
    bus = RedisBus(f"redis://:hunter2-secret@127.0.0.1:{port}/0")
    with caplog.at_level(logging.INFO, logger="collab"):
        await bus.start(Listener())  # type: ignore[arg-type]
        await bus.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"127.0.0.1:{port}" in warnings[0] and "unreachable" in warnings[0]
    assert "refused" in warnings[0] and "retrying" in warnings[0]
    assert "hunter2" not in caplog.text
    assert not bus.healthy and "unreachable" in bus.reason


async def test_a_wrong_redis_password_is_said_to_be_refused_not_unreachable(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.create_connection(("127.0.0.1", redis_server.port)) as sock:
        sock.sendall(b"CONFIG SET requirepass the-right-one\r\n")
        assert sock.recv(16).startswith(b"+OK")
    bus = RedisBus(f"redis://:hunter2-wrong@127.0.0.1:{redis_server.port}/0")
    with caplog.at_level(logging.INFO, logger="collab"):
        await bus.start(Listener())  # type: ignore[arg-type]
        await bus.close()
    assert not bus.healthy
    assert bus.reason.startswith("redis refused the credentials"), bus.reason
    assert "unreachable" not in caplog.text and "hunter2" not in caplog.text


def test_a_long_redis_reason_is_cut_at_a_word() -> None:
    text = (
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO AUTH <user> <pass> option can be used to authenticate the client"
    )
    reason = _why(AuthenticationError(text))
    assert len(reason.encode()) <= 100 and reason.endswith("…"), reason
    assert reason.removesuffix("…").split()[-1] in text.split(), reason
    assert _why(ConnectionError("Connection refused")) == "redis unreachable: Connection refused"
