"""The gateway's end of the relay: the boards attached to one gateway, and what it does with a
request from the server (write each board's bytes, listen for `window_s`, return what came).

A Flower ClientApp lives for one message only, so the links to the boards cannot live in it:
`GatewayBoards` is held by the long-running `tinyfl flower gateway` process, which also serves
it on a loopback socket (`BoardServer`) that each ClientApp call reaches (`ask_gateway`). The
gateway decodes nothing and checks nothing but sizes: it is a relay.
"""
from __future__ import annotations

import json
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping

from ..links import Link, LinkError, open_link
from .exchange import BoardReply, ExchangeError, MAX_REPLY_BYTES, Request, parse_request

__all__ = ["BoardServer", "ByteRecord", "GatewayBoards", "ask_gateway"]

READ_SIZE = 4096
MAX_LOCAL_MESSAGE = 64 << 20  # the loopback socket between ClientApp and gateway


OnBytes = Callable[[str, str, bytes], None]  # (board, "tx" | "rx", bytes)


class ByteRecord:
    """Every byte a gateway moved, one JSON line per board and direction per exchange
    ({"t", "board", "dir", "hex"}): what a curious gateway keeps (`tinyfl flower gateway
    --record`), and what tests check reveals no individual update under secure aggregation."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def __call__(self, board: str, direction: str, data: bytes) -> None:
        line = json.dumps({"t": round(time.time(), 3), "board": board, "dir": direction,
                           "hex": data.hex()})
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class GatewayBoards:
    """The boards one gateway owns: name -> link. `reopen(name)` makes a new link to a board
    whose link failed (default: open_link of the old link's url). `on_bytes(board, dir, data)`,
    if given, sees every byte written ("tx") and heard ("rx"), e.g. a ByteRecord."""

    def __init__(self, name: str, links: Mapping[str, Link], *,
                 reopen: Callable[[str], Link] | None = None,
                 on_bytes: OnBytes | None = None) -> None:
        if not links:
            raise ValueError("a gateway needs at least one board")
        self.name = name
        self.on_bytes = on_bytes
        self.links = dict(links)
        self.down: dict[str, str] = {}
        self._reopen = reopen or (lambda board: open_link(self.links[board].url,
                                                          connect_timeout=1.0))
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.links)),
                                        thread_name_prefix=f"tinyfl-gw-{name}")
        self._lock = threading.Lock()  # one exchange at a time: a board has one byte stream

    def describe(self) -> dict[str, Any]:
        return {"gateway": self.name, "boards": ",".join(self.links)}

    def handle(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Answers one request record (describe or exchange); malformed: an "error" entry."""
        from .exchange import encode_reply

        try:
            op, request = parse_request(record)
        except ExchangeError as exc:
            return {"error": str(exc)}
        if op == "describe":
            return self.describe()
        with self._lock:
            return encode_reply(self.exchange(request))

    def exchange(self, request: Request) -> BoardReply:
        reply = BoardReply()
        for board in request.reopen:
            if board in self.links:
                self._reopen_board(board)
        written = []
        for board, data in request.out.items():
            if board not in self.links:
                continue  # not ours: nothing to write it to
            if board in self.down:
                continue
            try:
                self.links[board].write(data)
                written.append(board)
                if self.on_bytes is not None:
                    self.on_bytes(board, "tx", data)
            except LinkError as exc:
                self.down[board] = exc.detail
        until = time.monotonic() + request.window_s
        live = [b for b in self.links if b not in self.down]
        if request.window_s > 0:
            heard = list(self._pool.map(lambda b: self._listen(b, until), live))
        else:  # what has arrived already: no waiting, so no thread per board
            heard = [self._listen(b, until) for b in live]
        for board, data in zip(live, heard):
            if data:
                reply.received[board] = data
                if self.on_bytes is not None:
                    self.on_bytes(board, "rx", data)
        reply.down = {b: r for b, r in self.down.items()}
        return reply

    def _listen(self, board: str, until: float) -> bytes:
        """Everything the board sends until `until` (at least one non-blocking read)."""
        got = bytearray()
        link = self.links[board]
        try:
            while len(got) < MAX_REPLY_BYTES:
                left = until - time.monotonic()
                data = link.read(min(READ_SIZE, MAX_REPLY_BYTES - len(got)), max(0.0, left))
                if data:
                    got += data
                elif left <= 0:
                    break
        except LinkError as exc:
            self.down[board] = exc.detail
        return bytes(got)

    def _reopen_board(self, board: str) -> None:
        try:
            self.links[board].close()
            self.links[board] = self._reopen(board)
            self.down.pop(board, None)
        except LinkError as exc:
            self.down[board] = f"cannot reopen: {exc.detail}"

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        self._pool.shutdown(wait=False)


# --- the loopback socket between a ClientApp call and the gateway process -----------------
# A message: 4-byte big-endian length, then JSON whose bytes values are {"b": hex}.

def _to_json(record: Mapping[str, Any]) -> bytes:
    out = {k: ({"b": v.hex()} if isinstance(v, bytes) else v) for k, v in record.items()}
    return json.dumps(out).encode()


def _from_json(data: bytes) -> dict[str, Any]:
    raw = json.loads(data)
    if not isinstance(raw, dict):
        raise ExchangeError("not a JSON object")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            hex_text = value.get("b")
            if not isinstance(hex_text, str):
                raise ExchangeError(f"{key}: not a bytes value")
            try:
                out[key] = bytes.fromhex(hex_text)
            except ValueError as exc:
                raise ExchangeError(f"{key}: {exc}") from exc
        elif isinstance(value, (str, int, float, bool)):
            out[key] = value
        else:
            raise ExchangeError(f"{key}: {type(value).__name__} not allowed")
    return out


def _send(sock: socket.socket, record: Mapping[str, Any]) -> None:
    data = _to_json(record)
    sock.sendall(struct.pack(">I", len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = sock.recv(min(65536, n - len(got)))
        if not chunk:
            raise ExchangeError(f"connection closed after {len(got)} of {n} bytes")
        got += chunk
    return bytes(got)


def _recv(sock: socket.socket) -> dict[str, Any]:
    (length,) = struct.unpack(">I", _recv_exact(sock, 4))
    if length > MAX_LOCAL_MESSAGE:
        raise ExchangeError(f"message of {length} bytes, more than {MAX_LOCAL_MESSAGE}")
    return _from_json(_recv_exact(sock, length))


class BoardServer:
    """Serves a GatewayBoards on 127.0.0.1 (port 0: any free port) for ClientApp calls."""

    def __init__(self, boards: GatewayBoards, port: int = 0) -> None:
        self.boards = boards
        self._sock = socket.create_server(("127.0.0.1", port))
        self._sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tinyfl-gw-server",
                                        daemon=True)

    def start(self) -> BoardServer:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(120)
            try:
                reply = self.boards.handle(_recv(conn))
            except (ExchangeError, OSError, ValueError, struct.error) as exc:
                reply = {"error": f"bad local request: {exc}"}
            try:
                _send(conn, reply)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        if self._thread.is_alive():
            self._thread.join(timeout=2)


def ask_gateway(address: str, record: Mapping[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    """What a ClientApp call does: hand the server's request to the gateway process."""
    host, _, port = address.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise ExchangeError(f"gateway address {address!r}: only loopback is allowed")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        _send(sock, record)
        return _recv(sock)
