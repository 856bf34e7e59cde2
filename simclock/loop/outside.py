"""When to wait for the world outside the process before jumping virtual time.

(The same `io_grace` also bounds how long a busy thread can hold virtual time
still while a timer is pending: see `simclock.threads`.)

Sockets whose peer lives in this process (a `start_server` and an
`open_connection` on the same loop) deliver synchronously: a `select(0)` poll
before each jump sees everything they sent, so they cost nothing. A peer
outside the process (another program, a real server, a child process) answers
in real time, and a 50 ms reply must not lose to a virtual 5 s timeout.

The rule: after the loop writes to an outside peer, starts a child process, or
opens a pipe to one, it *expects* the outside world. While it expects and a
timer is pending, an idle loop waits in real time, up to `io_grace` seconds,
for outside I/O before it jumps; virtual time stands still meanwhile.

- Data arriving on an outside socket or pipe, or a live child process, keeps
  it: the grace restarts. A reply in several packets, a streamed body or a
  TLS handshake is waited for until the peer has been quiet for `io_grace`,
  not only until its first packet.
- Connecting to an outside peer (plain or TLS) expects it too: a connect in
  flight, and a peer that speaks first, get their grace.
- A grace that runs out with no outside I/O ends the expectation, so an idle
  connection costs one grace per quiet stretch, not one per jump.
- Listening sockets never count: a server waiting for clients does not slow
  any jump.

The trade-off of `io_grace`: larger is safer for slow peers (a child that
computes for 0.8 s needs a grace above 0.8 s) and costs that much real time
each time the loop gives up on a quiet peer; 0 never waits, so every
outside peer must answer within one poll.
"""

from __future__ import annotations

import selectors
import socket
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simclock.process.bindings import real_monotonic

__all__ = ["DEFAULT_IO_GRACE", "OutsideHooks", "OutsideWorld"]

#: Real seconds an idle loop waits for an expected outside peer before jumping.
DEFAULT_IO_GRACE = 1.0

_LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"}


class OutsideWorld:
    """What the loop knows about peers outside the process, and whether it expects them."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        # Addresses served or bound by sockets of this loop: a peer at one of
        # them is in this process.
        self._local: set[Any] = set()
        self._listening_ports: set[int] = set()
        # Outside fds: "socket" (a reply ends the wait) or "pipe" (the wait goes on).
        self._fds: dict[int, str] = {}
        self._children: weakref.WeakSet[Any] = weakref.WeakSet()
        self._expect_until: float | None = None

    # What the loop tells it.

    def served(self, sock: socket.socket) -> None:
        """A listening socket: clients connecting to its address are in this process."""
        address = _address(sock.getsockname)
        self._local.add(address)
        if isinstance(address, tuple) and len(address) >= 2:
            self._listening_ports.add(address[1])

    def connected(self, sock: socket.socket) -> None:
        """A socket of ours now has a local address: a peer seeing it is in this process.

        An outside peer's socket stays watched: the connect's own selector
        registration, now gone, made the loop forget it.
        """
        self._local.add(_address(sock.getsockname))
        if self._expect_until is not None:
            self._socket_is_outside(sock)

    def watch_socket_transport(self, transport: Any, sock: socket.socket) -> None:
        self.connected(sock)
        verdict: list[bool] = []

        def is_outside() -> bool:
            # Decided at the first write, when the peer's own socket is known.
            if not verdict:
                verdict.append(self._socket_is_outside(sock))
            return verdict[0]

        self._wrap_writes(transport, is_outside)

    def watch_pipe_transport(self, transport: Any, fd: int) -> None:
        self._fds[fd] = "pipe"
        self.expect()
        self._wrap_writes(transport, lambda: True)

    def watch_child(self, transport: Any) -> None:
        self._children.add(transport)
        self.expect()

    def connecting(self, sock: socket.socket, address: Any) -> None:
        """A connect (or a datagram) is on its way to `address`: expect it if outside."""
        if self._address_is_outside(address):
            self._fds[sock.fileno()] = "socket"
            self.expect()

    def watch_datagram_transport(self, transport: Any, sock: socket.socket) -> None:
        """A datagram endpoint: each datagram to an outside address expects a reply."""
        connected = _address(sock.getpeername)
        original = transport.sendto

        def sendto(data: Any, addr: Any = None) -> None:
            self.connecting(sock, addr if addr is not None else connected)
            original(data, addr)

        transport.sendto = sendto

    def wrote(self, sock: socket.socket) -> None:
        """Raw socket data went out (`loop.sock_sendall` and friends)."""
        if self._socket_is_outside(sock):
            self.expect()

    def expect(self) -> None:
        self._expect_until = real_monotonic() + self.grace

    @property
    def expecting(self) -> bool:
        return self._expect_until is not None

    # What the loop asks it.

    def wait_budget(self) -> float | None:
        """Real seconds to wait for outside I/O before jumping, or None to jump now."""
        if self._expect_until is None:
            return None
        if not self._fds and not self._live_children():
            self._expect_until = None
            return None
        remaining = self._expect_until - real_monotonic()
        if remaining <= 0:
            self._expect_until = None
            return None
        return remaining

    def could_wake(self) -> bool:
        """A live child process could still wake the loop."""
        return bool(self._live_children())

    def saw(self, events: list[tuple[selectors.SelectorKey, int]]) -> None:
        """Events came in while waiting: outside data restarts the grace."""
        if self._live_children() or any(key.fd in self._fds for key, _ in events):
            self.expect()

    def forget(self, fd: int) -> None:
        self._fds.pop(fd, None)

    # Machinery.

    def _live_children(self) -> list[Any]:
        return [child for child in self._children if child.get_returncode() is None]

    def _address_is_outside(self, address: Any) -> bool:
        if isinstance(address, str | bytes):  # a Unix socket: outside unless this loop serves it
            return bool(address) and address not in self._local
        if not isinstance(address, tuple) or len(address) < 2:
            return False
        if address in self._local:
            return False
        return not (address[0] in _LOOPBACK_HOSTS and address[1] in self._listening_ports)

    def _socket_is_outside(self, sock: socket.socket) -> bool:
        peer = _address(sock.getpeername)
        if peer is None or peer == "" or peer in self._local:
            return False
        if (
            isinstance(peer, tuple)
            and peer[0] in _LOOPBACK_HOSTS
            and peer[1] in self._listening_ports
        ):
            return False
        self._fds[sock.fileno()] = "socket"
        return True

    def _wrap_writes(self, transport: Any, is_outside: Callable[[], bool]) -> None:
        """Expect the peer after each write; the transport is held weakly, so no cycle
        through it keeps it (and its SSL context, its loop) alive until the collector runs.
        """
        owner = weakref.ref(transport)
        for name in ("write", "writelines"):
            method = getattr(type(transport), name, None)
            if method is None or name in vars(transport):
                continue  # someone else's wrapper: leave it alone

            def wrapped(data: Any, _method: Any = method) -> None:
                if is_outside():
                    self.expect()
                target = owner()
                if target is not None:
                    _method(target, data)

            setattr(transport, name, wrapped)


def _address(read: Callable[[], Any]) -> Any:
    try:
        address = read()
    except OSError:
        return None
    return address if not isinstance(address, list) else tuple(address)


class OutsideHooks:
    """The loop's side: where asyncio makes transports and connects, tell the OutsideWorld.

    A mixin of `VirtualEventLoop`; every method defers to asyncio's own.
    """

    if TYPE_CHECKING:
        _outside: OutsideWorld

    def _make_socket_transport(self, sock: Any, *args: Any, **kwargs: Any) -> Any:
        _no_nagle(sock)
        transport = super()._make_socket_transport(sock, *args, **kwargs)  # type: ignore[misc]
        self._outside.watch_socket_transport(transport, sock)
        return transport

    def _start_serving(self, protocol_factory: Any, sock: Any, *args: Any, **kwargs: Any) -> None:
        self._outside.served(sock)
        super()._start_serving(protocol_factory, sock, *args, **kwargs)  # type: ignore[misc]

    async def sock_connect(self, sock: Any, address: Any) -> None:
        self._outside.connecting(sock, address)
        await super().sock_connect(sock, address)  # type: ignore[misc]
        self._outside.connected(sock)

    async def sock_sendto(self, sock: Any, data: Any, address: Any) -> int:
        self._outside.connecting(sock, address)
        sent: int = await super().sock_sendto(sock, data, address)  # type: ignore[misc]
        return sent

    def _make_datagram_transport(self, sock: Any, *args: Any, **kwargs: Any) -> Any:
        transport = super()._make_datagram_transport(sock, *args, **kwargs)  # type: ignore[misc]
        self._outside.watch_datagram_transport(transport, sock)
        return transport

    def _make_ssl_transport(self, rawsock: Any, *args: Any, **kwargs: Any) -> Any:
        _no_nagle(rawsock)
        # TLS transports are built without _make_socket_transport: watch them here.
        transport = super()._make_ssl_transport(rawsock, *args, **kwargs)  # type: ignore[misc]
        self._outside.watch_socket_transport(transport, rawsock)
        peer = _peer_of(rawsock)
        if peer is not None:
            self._outside.connecting(rawsock, peer)  # the handshake is a round trip
        return transport

    async def sock_sendall(self, sock: Any, data: Any) -> None:
        self._outside.wrote(sock)
        await super().sock_sendall(sock, data)  # type: ignore[misc]

    def _make_read_pipe_transport(self, pipe: Any, *args: Any, **kwargs: Any) -> Any:
        transport = super()._make_read_pipe_transport(pipe, *args, **kwargs)  # type: ignore[misc]
        self._outside.watch_pipe_transport(transport, pipe.fileno())
        return transport

    def _make_write_pipe_transport(self, pipe: Any, *args: Any, **kwargs: Any) -> Any:
        transport = super()._make_write_pipe_transport(pipe, *args, **kwargs)  # type: ignore[misc]
        self._outside.watch_pipe_transport(transport, pipe.fileno())
        return transport

    async def _make_subprocess_transport(self, *args: Any, **kwargs: Any) -> Any:
        self._outside.expect()
        transport = await super()._make_subprocess_transport(*args, **kwargs)  # type: ignore[misc]
        self._outside.watch_child(transport)
        return transport


def _peer_of(sock: Any) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None


def _no_nagle(sock: Any) -> None:
    """Send small writes at once, as asyncio already does for sockets it made itself.

    asyncio sets TCP_NODELAY only when `sock.proto` is IPPROTO_TCP; a socket
    made with `socket.create_server()` or accepted from one has proto 0 and
    keeps Nagle, which holds back-to-back small writes for the peer's delayed
    ACK (about 40 ms). A real loop waits that out; an idle virtual loop would
    see nothing and jump past it.
    """
    if getattr(sock, "type", None) == socket.SOCK_STREAM and sock.family in (
        socket.AF_INET,
        socket.AF_INET6,
    ):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
