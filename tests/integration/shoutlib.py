"""Shared helpers for shout's integration tests.

Starts a real shoutd on a free loopback port, stops it by PID, speaks the
framed protocol (docs: /work/shared/design.md, "Wire protocol") and reads
sockets with a deadline. Every blocking call here is bounded by TIMEOUT.

The binaries come from the environment: SHOUTD and SHOUT (ctest sets them).
"""

import collections
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

SHOUTD = os.environ.get("SHOUTD", "")
SHOUT = os.environ.get("SHOUT", "")

TIMEOUT = 10.0        # seconds any single wait may take
QUIET_TIMEOUT = 0.5   # how long "nothing arrives" is watched for
STOP_TIMEOUT = 15.0   # SIGTERM to exit, including a drain grace period

MAGIC = b"\xf5\x55"
VERSION = 1
TYPE_REQUEST, TYPE_REPLY, TYPE_ERROR = 1, 2, 3
HEADER = struct.Struct(">2sBBIQ")
HEADER_LEN = HEADER.size

# Error codes, as in lib/wire.h.
ERR_BAD_MAGIC = 1
ERR_BAD_VERSION = 2
ERR_BAD_TYPE = 3
ERR_TOO_LARGE = 4
ERR_UNEXPECTED_TYPE = 5
ERR_LENGTH_MISMATCH = 6

Header = collections.namedtuple("Header", "magic version type length id")


def encode_frame(payload, frame_id, frame_type=TYPE_REQUEST, version=VERSION,
                 magic=MAGIC, length=None):
    """A header plus payload; length defaults to the payload's true length."""
    if length is None:
        length = len(payload)
    return HEADER.pack(magic, version, frame_type, length, frame_id) + payload


def parse_header(data):
    return Header(*HEADER.unpack(data[:HEADER_LEN]))


def parse_error_payload(payload):
    """(code, reason) of an error frame's payload."""
    (code,) = struct.unpack(">H", payload[:2])
    return code, payload[2:]


def _set_remaining(sock, deadline):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise socket.timeout("deadline passed")
    sock.settimeout(remaining)


def recv_exact(sock, n, timeout=TIMEOUT):
    """Exactly n bytes, or AssertionError on EOF; socket.timeout after timeout."""
    deadline = time.monotonic() + timeout
    chunks = []
    got = 0
    while got < n:
        _set_remaining(sock, deadline)
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise AssertionError(f"EOF after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_until_eof(sock, timeout=TIMEOUT):
    """Everything up to EOF; socket.timeout if EOF does not come in time."""
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        _set_remaining(sock, deadline)
        chunk = sock.recv(1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def recv_frame(sock, timeout=TIMEOUT):
    """(Header, payload) of the next frame on a stream socket."""
    header = parse_header(recv_exact(sock, HEADER_LEN, timeout))
    return header, recv_exact(sock, header.length, timeout)


def connect(port, host="127.0.0.1"):
    return socket.create_connection((host, port), timeout=TIMEOUT)


def udp_socket(family=socket.AF_INET):
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(TIMEOUT)
    return sock


class UdpPeerMixin:
    """A connected-by-convention UDP peer of the test: self.sock talks to self.addr."""

    def open_udp_peer(self, port):
        self.sock = udp_socket()
        self.addCleanup(self.sock.close)
        self.addr = ("127.0.0.1", port)

    def exchange(self, datagram):
        """Send one datagram, return the one reply, which must come from the server."""
        self.sock.sendto(datagram, self.addr)
        reply, source = self.sock.recvfrom(1 << 17)
        self.assertEqual(source, self.addr)
        return reply

    def assert_no_reply(self, datagram):
        """Nothing answers datagram within QUIET_TIMEOUT."""
        self.sock.sendto(datagram, self.addr)
        self.sock.settimeout(QUIET_TIMEOUT)
        with self.assertRaises(socket.timeout, msg=f"answered {datagram!r}"):
            self.sock.recvfrom(1 << 17)
        self.sock.settimeout(TIMEOUT)


def connect_from(port, source="127.0.0.1", timeout=TIMEOUT):
    """A TCP connection to shoutd from a chosen loopback source address (any
    127.x.y.z can be bound, so per-source limits are testable)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        # Let connect() choose the port: many sources, no bind-time port exhaustion.
        sock.setsockopt(socket.IPPROTO_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


def reset_close(sock):
    """Close with SO_LINGER {1, 0}: the kernel sends RST, not FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def bound_udp_socket(host, port=0):
    """A UDP socket bound to host (a loopback source address) with room for many replies."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    sock.bind((host, port))
    sock.settimeout(TIMEOUT)
    return sock


def drain_replies(sock):
    """The datagrams already sent to sock, read until QUIET_TIMEOUT passes without one."""
    replies = []
    sock.settimeout(QUIET_TIMEOUT)
    try:
        while True:
            replies.append(sock.recvfrom(1 << 16)[0])
    except socket.timeout:
        pass
    sock.settimeout(TIMEOUT)
    return replies


_MASK64 = (1 << 64) - 1


def _rotl64(word, bits):
    return ((word << bits) | (word >> (64 - bits))) & _MASK64


def siphash24(key, message):
    """SipHash-2-4 of message under a 16-byte key: lib/source.c's source_siphash,
    so that a test can tell which addresses shoutd's tables put together."""
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rounds(count):
        for _ in range(count):
            v[0] = (v[0] + v[1]) & _MASK64
            v[1] = _rotl64(v[1], 13) ^ v[0]
            v[0] = _rotl64(v[0], 32)
            v[2] = (v[2] + v[3]) & _MASK64
            v[3] = _rotl64(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & _MASK64
            v[3] = _rotl64(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & _MASK64
            v[1] = _rotl64(v[1], 17) ^ v[2]
            v[2] = _rotl64(v[2], 32)

    whole = len(message) - len(message) % 8
    words = [int.from_bytes(message[i:i + 8], "little") for i in range(0, whole, 8)]
    words.append((len(message) & 0xFF) << 56 | int.from_bytes(message[whole:], "little"))
    for word in words:
        v[3] ^= word
        rounds(2)
        v[0] ^= word
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def ipv4_source_key(address):
    """lib/source.h's key of an IPv4 source: ::ffff:a.b.c.d."""
    return bytes(10) + b"\xff\xff" + socket.inet_aton(address)


def fetch_stats(port, host="127.0.0.1", half_close=True):
    """Connect, send nothing, read to EOF: exactly one JSON object and a newline.
    half_close: shut down the write side, so that shoutd answers at once
    rather than after its quiet time (what a script that only connects gets)."""
    with connect(port, host) as sock:
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = recv_until_eof(sock)
    if not data.endswith(b"\n") or data.count(b"\n") != 1:
        raise AssertionError(f"not one line of JSON: {data!r}")
    return json.loads(data)


def wait_for(predicate, timeout=TIMEOUT):
    """Poll predicate until it holds or timeout passes; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def free_port(sock_type):
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, sock_type) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def run_program(path, *args, stdin=b""):
    """Run one of our binaries to completion (killed after TIMEOUT)."""
    if not path:
        raise unittest.SkipTest("SHOUTD or SHOUT is not set")
    return subprocess.run([path, *args], input=stdin, capture_output=True,
                          timeout=TIMEOUT, check=False)


def build_preload_library(test_class, source):
    """Compile C source into a shared library for LD_PRELOAD, in a directory
    removed when test_class's tests are done; its path. Skips the class when
    there is no C compiler. (How a test puts code inside a running shoutd
    without the binary having a way in.)"""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise unittest.SkipTest("no C compiler to build an LD_PRELOAD library")
    workdir = tempfile.TemporaryDirectory()
    test_class.addClassCleanup(workdir.cleanup)
    source_path = os.path.join(workdir.name, "preload.c")
    library = os.path.join(workdir.name, "preload.so")
    with open(source_path, "w", encoding="ascii") as out:
        out.write(source)
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", library, source_path],
                   check=True, timeout=60)
    return library


def preload_env(library):
    """This process's environment with library in LD_PRELOAD."""
    env = dict(os.environ)
    env["LD_PRELOAD"] = library
    return env


class Writer(threading.Thread):
    """Writes data to a socket in the background while the test reads."""

    def __init__(self, sock, data, shut_write=False):
        super().__init__(daemon=True)
        self.sock = sock
        self.data = data
        self.shut_write = shut_write
        self.error = None

    def run(self):
        try:
            self.sock.sendall(self.data)
            if self.shut_write:
                self.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self.error = exc

    def finish(self):
        """Wait for the write to complete and re-raise its failure, if any."""
        self.join(TIMEOUT)
        if self.is_alive():
            raise AssertionError("writer still blocked after the reply was read")
        if self.error is not None:
            raise self.error


class Server:
    """A shoutd on a free port (--port 0), stopped by PID and always reaped."""

    def __init__(self, *args, env=None, preexec_fn=None):
        """env (the whole environment, None: this process's) and preexec_fn
        (run in the child before exec, e.g. to set an rlimit) go to Popen."""
        if not SHOUTD:
            raise unittest.SkipTest("SHOUTD is not set")
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([SHOUTD, "--port", "0", *args],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=self.stderr,
                                     env=env, preexec_fn=preexec_fn)
        try:
            self.port = self._read_port()
        except BaseException:
            self.close()
            raise

    def _read_port(self):
        deadline = time.monotonic() + TIMEOUT
        fd = self.proc.stdout.fileno()
        out = b""
        while b"\n" not in out:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"shoutd printed no port: {out!r}\n"
                                     f"{self.stderr_text()}")
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(TIMEOUT)
                    raise AssertionError(
                        f"shoutd exited {self.proc.returncode} before "
                        f"printing its port: {out!r}\n{self.stderr_text()}")
                out += chunk
        line = out.split(b"\n", 1)[0].strip()
        if not line.isdigit() or not 0 < int(line) < 65536:
            raise AssertionError(f"not a port line: {line!r}")
        return int(line)

    def stderr_text(self):
        self.stderr.seek(0)
        return "shoutd stderr:\n" + self.stderr.read().decode(errors="replace")

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Signal the server by PID and return its exit status."""
        if self.running():
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(f"shoutd did not exit within {STOP_TIMEOUT} s "
                                 f"of signal {sig!r}") from None

    def close(self):
        """Kill if still running, reap, release the pipes. Idempotent."""
        if self.running():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


class PortsServer(Server):
    """A shoutd whose port lines are all read: the port, then `stats N`
    (unless --no-stats), then `sockperf N` (with --sockperf-port)."""

    def __init__(self, *args, env=None, preexec_fn=None):
        self.want_lines = 1 + ("--no-stats" not in args) + ("--sockperf-port" in args)
        self.lines = []
        self.stats_port = None
        self.sockperf_port = None
        super().__init__(*args, env=env, preexec_fn=preexec_fn)

    def _read_port(self):
        deadline = time.monotonic() + TIMEOUT
        fd = self.proc.stdout.fileno()
        out = b""
        while out.count(b"\n") < self.want_lines:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"shoutd printed {out!r}\n{self.stderr_text()}")
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(TIMEOUT)
                    raise AssertionError(f"shoutd exited {self.proc.returncode} after "
                                         f"{out!r}\n{self.stderr_text()}")
                out += chunk
        self.lines = out.decode().splitlines()
        for line in self.lines[1:]:
            name, _, number = line.partition(" ")
            if not re.fullmatch(r"[1-9][0-9]*", number) or name not in ("stats", "sockperf"):
                raise AssertionError(f"not a port line: {line!r}")
            setattr(self, name + "_port", int(number))
        if not self.lines[0].isdigit():
            raise AssertionError(f"line 1 is not the port alone: {self.lines[0]!r}")
        return int(self.lines[0])

    def rest_of_stdout(self):
        """What shoutd printed after the port lines; call once it has exited."""
        return self.proc.stdout.read()


def send_and_read_some(sock, data, want):
    """Write data while reading replies; exactly the first `want` reply bytes,
    whether or not all of data has been written by then."""
    deadline = time.monotonic() + TIMEOUT
    sock.setblocking(False)
    sent = 0
    got = bytearray()
    while len(got) < want:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"only {len(got)} of {want} reply bytes in {TIMEOUT} s")
        writable = [sock] if sent < len(data) else []
        readable, writable, _ = select.select([sock], writable, [], remaining)
        if writable:
            try:
                sent += sock.send(data[sent:sent + (1 << 16)])
            except BlockingIOError:
                pass
        if readable:
            chunk = sock.recv(min(1 << 16, want - len(got)))
            if not chunk:
                raise AssertionError(f"EOF after {len(got)} reply bytes")
            got += chunk
    return bytes(got)


class SharedServerTestCase(unittest.TestCase):
    """One shoutd for the whole class, started with server_args; at the end it
    must exit with status 0 on SIGTERM. self.server.port is its port."""

    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(*cls.server_args)

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        cls.server.close()
        if status != 0:
            raise AssertionError(f"shoutd exited {status}")


class ServerTestCase(unittest.TestCase):
    """Each test gets its own shoutd; at the end it must still be running and
    exit with status 0 on SIGTERM (a crash or a sanitizer report fails it)."""

    server_args = ()

    def setUp(self):
        self.server = Server(*self.server_args)
        self.addCleanup(self.server.close)
        self.port = self.server.port

    def tearDown(self):
        if self.server.proc.returncode is not None:
            return  # the test stopped the server itself and checked it
        self.assertTrue(self.server.running(),
                        "shoutd died during the test\n" + self.server.stderr_text())
        status = self.server.stop()
        self.assertEqual(status, 0, self.server.stderr_text())

    def assert_serves_text(self, host="127.0.0.1"):
        """A new TCP client is still answered."""
        with connect(self.port, host) as sock:
            sock.sendall(b"still alive?")
            self.assertEqual(recv_exact(sock, 12), b"STILL ALIVE?")

    def assert_error_then_eof(self, sock, frame_id, code):
        """The next frame is error `code` for `frame_id`, then the server closes."""
        header, payload = recv_frame(sock)
        self.assertEqual(header.magic, MAGIC)
        self.assertEqual(header.version, VERSION)
        self.assertEqual(header.type, TYPE_ERROR)
        self.assertEqual(header.id, frame_id)
        self.assertGreaterEqual(len(payload), 2)
        got_code, reason = parse_error_payload(payload)
        self.assertEqual(got_code, code, f"reason {reason!r}")
        self.assertTrue(reason.isascii(), reason)
        self.assertEqual(recv_until_eof(sock), b"")
