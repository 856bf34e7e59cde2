"""Real peers in child processes: the loop waits for them as a real loop would."""

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import simclock
from simclock.process.bindings import real_perf_counter

# Each peer prints its port, then serves one client in real time.
BANNER_FIRST = """
import socket, time
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
connection, _ = server.accept()
time.sleep(0.1)
connection.sendall(b"220 hello\\n")
connection.recv(10)
"""

TWO_PACKETS = """
import socket, time
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
connection, _ = server.accept()
connection.recv(100)
connection.sendall(b"first half, ")
time.sleep(0.15)
connection.sendall(b"second half\\n")
connection.recv(10)
"""

UDP_ECHO = """
import socket, time
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
data, address = server.recvfrom(100)
time.sleep(0.05)
server.sendto(data.upper(), address)
"""

TLS_SERVER = """
import socket, ssl, sys, time
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
connection, _ = server.accept()
time.sleep(0.05)
with context.wrap_socket(connection, server_side=True) as tls:
    tls.recv(100)
    time.sleep(0.05)
    tls.sendall(b"secret pong\\n")
    tls.recv(10)
"""


@contextlib.contextmanager
def peer(source, *args):
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(source), *args], stdout=subprocess.PIPE, text=True
    )
    try:
        yield int(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_a_peer_that_speaks_first_is_waited_for():
    async def main(port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            banner = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return banner

    with peer(BANNER_FIRST) as port:
        assert simclock.run(main(port)) == b"220 hello\n"


def test_a_reply_in_two_packets_is_waited_for_to_its_end():
    async def main(port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ask\n")
        async with asyncio.timeout(5):
            reply = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return reply

    with peer(TWO_PACKETS) as port:
        assert simclock.run(main(port)) == b"first half, second half\n"


def test_a_datagram_reply_beats_a_virtual_timeout():
    async def main(port):
        loop = asyncio.get_running_loop()
        answer = loop.create_future()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                answer.set_result(data)

        transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
        transport.sendto(b"ping")
        async with asyncio.timeout(5):
            reply = await answer
        transport.close()
        return reply

    with peer(UDP_ECHO) as port:
        assert simclock.run(main(port)) == b"PING"


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs the openssl command: apt-get install openssl"
)
def test_a_tls_peer_in_another_process_completes_its_handshake(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False

    async def main(port):
        async with asyncio.timeout(60):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.write(b"ping\n")
        async with asyncio.timeout(5):
            reply = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return reply

    with peer(TLS_SERVER, str(cert), str(key)) as port:
        assert simclock.run(main(port), start="now") == b"secret pong\n"


def test_popen_wait_with_a_timeout_on_the_loop_thread_waits_for_the_real_child():
    async def main():
        clock = simclock.current_clock()
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
        before = clock.now
        code = child.wait(timeout=5)  # a real run waits about 0.3 s for the child
        return code, clock.now - before

    code, moved = simclock.run(main())
    assert code == 0
    # The clock moved on by the real time the wait took, not by the timeout.
    assert 0.3 <= moved < 5


def test_subprocess_run_with_a_timeout_in_a_worker_thread_waits_for_the_real_child():
    def in_worker():
        done = subprocess.run(
            [sys.executable, "-c", "import time; time.sleep(0.3); print('done')"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return done.stdout.strip()

    async def main():
        return await asyncio.to_thread(in_worker)

    assert simclock.run(main()) == "done"


def test_a_hand_written_poll_for_a_real_child_gets_the_real_time_it_needs():
    async def main():
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
        deadline = time.monotonic() + 5
        while child.poll() is None:  # as test helpers poll a forked child
            if time.monotonic() > deadline:
                child.kill()
                child.wait()
                return "gave up"
            time.sleep(0.01)
        return child.returncode

    assert simclock.run(main()) == 0


def test_a_blocking_sleep_with_no_child_running_stays_virtual():
    async def main():
        started = real_perf_counter()
        time.sleep(3600)
        return real_perf_counter() - started, simclock.current_clock().now

    took, now = simclock.run(main())
    assert now == 3600.0 and took < 1


def test_a_child_started_before_the_run_leaves_blocking_sleeps_virtual():
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:

        async def main():
            started = real_perf_counter()
            time.sleep(3600)
            return real_perf_counter() - started, simclock.current_clock().now

        took, now = simclock.run(main())
        assert now == 3600.0 and took < 1
    finally:
        server.kill()
        server.wait()


def test_a_peer_stays_watched_while_its_reader_is_paused():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"A")
            time.sleep(0.2)  # a thread started before the run: real time
            conn.sendall(b"B")
            conn.recv(1)

    server = threading.Thread(target=serve, daemon=True)
    server.start()

    async def main():
        loop = asyncio.get_running_loop()
        got = bytearray()
        both = loop.create_future()

        class Pausing(asyncio.Protocol):
            # As anyio does after every receive: pause, then resume on the next turn.
            def connection_made(self, transport):
                self.transport = transport

            def data_received(self, data):
                got.extend(data)
                self.transport.pause_reading()
                loop.call_soon(self.transport.resume_reading)
                if len(got) == 2:
                    both.set_result(None)

        transport, _ = await loop.create_connection(Pausing, "127.0.0.1", port)
        transport.write(b"hi")
        try:
            await asyncio.wait_for(both, 5)
        finally:
            transport.close()
        return bytes(got)

    try:
        assert simclock.run(main()) == b"AB"
    finally:
        server.join()
        listener.close()


LATE_SERVER = """
import socket, sys, time
time.sleep(0.5)  # starting up
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
conn, _ = server.accept()
conn.sendall(b"ready")
conn.close()
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_readiness_poll_gives_a_child_server_the_real_time_it_needs():
    async def main():
        port = free_port()
        child = subprocess.Popen([sys.executable, "-S", "-c", LATE_SERVER, str(port)])
        try:
            for _attempt in range(50):
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            else:
                return "gave up", simclock.current_clock().now
            greeting = await reader.read()
            writer.close()
            return greeting, simclock.current_clock().now
        finally:
            child.wait()

    greeting, at = simclock.run(main())
    assert greeting == b"ready"
    assert 0.4 < at < 5.0  # the child's start-up took real time, and so virtual time


def test_a_child_that_sleeps_is_cut_by_a_shorter_timeout():
    async def main():
        child = await asyncio.create_subprocess_exec("sleep", "1")
        try:
            await asyncio.wait_for(child.wait(), 0.5)
        except TimeoutError:
            return "timed out", asyncio.get_running_loop().time() - simclock.MONOTONIC_ORIGIN
        finally:
            await child.wait()
        return "finished", None

    assert simclock.run(main()) == ("timed out", pytest.approx(0.5, abs=1e-9))


def test_a_child_blocked_in_accept_holds_no_time():
    async def main():
        port = free_port()
        child = subprocess.Popen(
            [sys.executable, "-S", "-c", LATE_SERVER.replace("time.sleep(0.5)", "pass"), str(port)]
        )
        try:
            for _attempt in range(50):  # until it listens
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    break
                except OSError:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(3600)  # the child now waits for nothing of ours
            writer.close()
            return await reader.read()
        finally:
            child.wait()

    started = real_perf_counter()
    assert simclock.run(main()) == b"ready"
    assert real_perf_counter() - started < 5.0


def test_watching_a_transports_writes_makes_no_reference_cycle():
    import gc
    import weakref

    from simclock.loop.outside import OutsideWorld

    class Transport:
        def __init__(self):
            self.sent = []

        def write(self, data):
            self.sent.append(data)

        def writelines(self, lines):
            self.sent.extend(lines)

    world = OutsideWorld(1.0)
    transport = Transport()
    world._wrap_writes(transport, lambda: True)
    transport.write(b"a")
    transport.writelines([b"b"])
    assert transport.sent == [b"a", b"b"]
    assert world.expecting
    gone = weakref.ref(transport)
    enabled = gc.isenabled()
    gc.disable()
    try:
        del transport
        assert gone() is None  # freed at once, not at the collector's next pass
    finally:
        if enabled:
            gc.enable()
