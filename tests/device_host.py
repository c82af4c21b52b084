"""A minimal host for device tests: raw bytes or messages out, every decoded message in."""
from __future__ import annotations

import socket
import time

from tinyfl.wire import FrameDecoder, Hello, HelloRequest, encode_message


class RawHost:
    def __init__(self, url: str):
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        self.link = socket.create_connection((host, int(port)), timeout=5)
        self.link.settimeout(0.02)
        self.decoder = FrameDecoder()
        self.pending: list = []
        self.seq = 0

    def _read(self) -> bytes:
        try:
            return self.link.recv(4096)
        except socket.timeout:
            return b""

    def _pump(self) -> None:
        for received in self.decoder.feed(self._read()):
            assert received.error is None, received.error
            self.pending.append(received.message)

    def send(self, message, chunk: int = 240) -> None:
        self.seq += 1
        self.link.sendall(encode_message(message, self.seq, chunk=chunk))

    def send_raw(self, data: bytes) -> None:
        self.link.sendall(data)

    def receive(self, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while not self.pending:
            if time.monotonic() > deadline:
                raise TimeoutError("no message from the board")
            self._pump()
        return self.pending.pop(0)

    def answer(self, timeout: float = 10.0):
        """The next message that is not a hello."""
        while True:
            message = self.receive(timeout)
            if not isinstance(message, Hello):
                return message

    def collect(self, quiet: float = 0.5) -> list:
        """Every message until the link has been quiet for `quiet` seconds."""
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            before = len(self.pending)
            self._pump()
            if len(self.pending) != before:
                last = time.monotonic()
        out, self.pending = self.pending, []
        return out

    def hello(self) -> Hello:
        self.send(HelloRequest())
        while True:
            message = self.receive()
            if isinstance(message, Hello):
                return message

    def close(self) -> None:
        self.link.close()
