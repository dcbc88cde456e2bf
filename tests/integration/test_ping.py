"""shout ping, end to end: exact counts against a real shoutd over TCP and UDP,
text and framed, the JSON file, and fake servers in this file that answer one
reply wrongly or drop every tenth datagram; sockperf's format against a real
`sockperf server` when Debian's sockperf is installed.

The fake servers here are imported by test_load.py too."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from shoutlib import (HEADER_LEN, SHOUT, SHOUTD, TIMEOUT, TYPE_REPLY,
                      Server, encode_frame, free_port, parse_header, recv_exact)

MODES = ((), ("--udp",), ("--framed",), ("--udp", "--framed"))
EXIT_OK, EXIT_USAGE, EXIT_NETWORK, EXIT_TIMEOUT, EXIT_MISMATCH = 0, 2, 3, 4, 6
RUN_TIMEOUT = 30.0  # seconds a whole shout run may take before the test fails


def run_shout(*args, timeout=RUN_TIMEOUT):
    """Run shout to completion (killed after timeout); returns the CompletedProcess."""
    if not SHOUT:
        raise unittest.SkipTest("SHOUT is not set")
    return subprocess.run([SHOUT, *args], capture_output=True, timeout=timeout,
                          check=False)


def run_measure(test, command, port, *args, expect=EXIT_OK):
    """shout ping/load with --json; asserts the exit status, returns the JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "result.json")
        proc = run_shout(command, "--host", "127.0.0.1", "--port", str(port),
                         "--json", path, *args)
        test.assertEqual(proc.returncode, expect,
                         f"shout {command} {args}\nstdout:\n{proc.stdout.decode()}\n"
                         f"stderr:\n{proc.stderr.decode()}")
        try:
            with open(path, encoding="utf-8") as f:
                result = json.load(f)
        except FileNotFoundError:
            result = None
    if result is not None:
        validate_result(result)
    return proc, result


SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                           "docs", "result.schema.json")


def validate_result(result):
    """Every result file a test reads, against docs/result.schema.json (when
    Debian's python3-jsonschema is installed, as ci/test does)."""
    try:
        import jsonschema  # pylint: disable=import-outside-toplevel
    except ImportError:
        return
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        jsonschema.Draft202012Validator(json.load(f)).validate(result)


def upper_reply_text(data):
    return data.upper()


def framed_reply(header, payload):
    return encode_frame(payload.upper(), header.id, frame_type=TYPE_REPLY)


class FakeServer:
    """A loopback server, TCP (a thread per connection) or UDP, that answers
    like shoutd except where `policy(n, reply)` says: it gets the 0-based
    number of the reply over the whole server and the right reply, and
    returns the bytes to send instead, None to send nothing, or a list of
    replies (datagrams) to send in that order. TCP text
    requests are read `size` bytes at a time; framed requests frame by frame."""

    def __init__(self, udp, framed, policy, size=32):
        self.udp, self.framed, self.policy, self.size = udp, framed, policy, size
        self.sock = socket.socket(socket.AF_INET,
                                  socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        if not udp:
            self.sock.listen(64)
        self.lock = threading.Lock()
        self.replies = 0
        self.stopping = threading.Event()
        self.threads = []

    def _next(self, right):
        """The replies to send for this request, as a list."""
        with self.lock:
            n = self.replies
            self.replies += 1
            reply = self.policy(n, right)
        if reply is None:
            return []
        return reply if isinstance(reply, list) else [reply]

    def _serve_udp(self):
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            if self.framed:
                right = framed_reply(parse_header(data), data[HEADER_LEN:])
            else:
                right = upper_reply_text(data)
            for reply in self._next(right):
                self.sock.sendto(reply, peer)

    def _serve_conn(self, conn):
        conn.settimeout(TIMEOUT)
        with conn:
            try:
                while True:
                    if self.framed:
                        header = parse_header(recv_exact(conn, HEADER_LEN))
                        right = framed_reply(header, recv_exact(conn, header.length))
                    else:
                        right = upper_reply_text(recv_exact(conn, self.size))
                    for reply in self._next(right):
                        conn.sendall(reply)
            except (OSError, AssertionError):
                return  # EOF or reset: the client is done

    def _serve_tcp(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            t = threading.Thread(target=self._serve_conn, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def __enter__(self):
        t = threading.Thread(target=self._serve_udp if self.udp else self._serve_tcp,
                             daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in list(self.threads):
            t.join(TIMEOUT)
        self.sock.close()


def corrupt_reply(which):
    """A policy that flips the case of one payload letter of reply `which`."""
    def policy(n, right):
        if n != which:
            return right
        wrong = bytearray(right)
        wrong[-1] ^= 0x20  # 'A' <-> 'a': still a letter, no longer uppercased
        return bytes(wrong)
    return policy


def drop_every(k):
    """A policy that sends no reply to every k-th request (the k-th, 2k-th, ...)."""
    return lambda n, right: None if (n + 1) % k == 0 else right


def mode_name(mode):
    return " ".join(mode) or "tcp text"


class AgainstShoutd(unittest.TestCase):
    """A real shoutd with a known stats port per test, alive and exiting 0 at the end."""

    def setUp(self):
        if not SHOUTD:
            raise unittest.SkipTest("SHOUTD is not set")
        self.stats_port = free_port(socket.SOCK_STREAM)
        self.server = Server("--stats-port", str(self.stats_port))
        self.addCleanup(self.server.close)

    def tearDown(self):
        self.assertTrue(self.server.running(), self.server.stderr_text())
        self.assertEqual(self.server.stop(), 0, self.server.stderr_text())


class PingAgainstShoutd(AgainstShoutd):

    def test_count_gives_exactly_that_many_checked_round_trips(self):
        for mode in MODES:
            with self.subTest(mode=mode_name(mode)):
                proc, result = run_measure(self, "ping", self.server.port, "--count", "300",
                                           "--warmup", "0.1", "--stats-port",
                                           str(self.stats_port), *mode)
                self.assertIsNotNone(result, "no JSON file written")
                counts = result["results"]["counts"]
                self.assertEqual(counts["sent"], 300)
                self.assertEqual(counts["received"], 300)
                for key in ("mismatches", "lost", "duplicates", "reordered", "error_frames"):
                    self.assertEqual(counts[key], 0, key)
                self.assertEqual(result["results"]["latency"]["count"], 300)
                self.assertEqual(result["config"]["command"], "ping")
                self.assertEqual(result["config"]["udp"], "--udp" in mode)
                self.assertEqual(result["config"]["framed"], "--framed" in mode)
                latency = result["results"]["latency"]
                self.assertGreater(latency["min"], 0)
                self.assertLessEqual(latency["p50"], latency["p99"])
                self.assertLessEqual(latency["p99"], latency["max"])
                self.assertIn(b"RTT", proc.stdout)
                # Framed requests carry a 16-byte header each way.
                per = 64 + (16 if "--framed" in mode else 0)
                self.assertEqual(counts["bytes_sent"], 300 * per)
                self.assertEqual(counts["bytes_received"], 300 * per)

    def test_busy_poll_spins_for_every_reply_and_says_so(self):
        for mode in MODES:
            with self.subTest(mode=mode_name(mode)):
                proc, result = run_measure(self, "ping", self.server.port, "--count", "300",
                                           "--warmup", "0", "--busy-poll", "--stats-port",
                                           str(self.stats_port), *mode)
                counts = result["results"]["counts"]
                self.assertEqual((counts["sent"], counts["received"]), (300, 300))
                self.assertEqual(counts["mismatches"], 0)
                self.assertIs(result["config"]["busy_poll"], True)
                self.assertIn(b"spinning (--busy-poll)", proc.stdout)
        _, result = run_measure(self, "ping", self.server.port, "--count", "10", "--warmup", "0",
                                "--stats-port", str(self.stats_port))
        self.assertIs(result["config"]["busy_poll"], False)

    def test_server_counters_cover_the_measured_requests(self):
        _, result = run_measure(self, "ping", self.server.port, "--count", "200",
                                "--warmup", "0", "--stats-port", str(self.stats_port),
                                "--framed")
        self.assertEqual(result["results"]["counts"]["received"], 200)
        server = result["results"]["cpu"]["server"]
        self.assertIsNotNone(server, "no server figures although the stats port answers")

    def test_duration_run_stops_by_itself_and_counts_agree(self):
        _, result = run_measure(self, "ping", self.server.port, "--duration", "0.5",
                                "--warmup", "0", "--no-server-stats", "--udp")
        counts = result["results"]["counts"]
        self.assertGreater(counts["received"], 0)
        self.assertEqual(counts["sent"], counts["received"])
        self.assertEqual(result["results"]["latency"]["count"], counts["received"])

    def test_a_silent_stats_port_is_one_warning_not_a_failure(self):
        closed = free_port(socket.SOCK_STREAM)
        proc, result = run_measure(self, "ping", self.server.port, "--count", "20",
                                   "--warmup", "0", "--stats-port", str(closed))
        self.assertEqual(proc.stderr.count(b"warning"), 1, proc.stderr)
        self.assertEqual(result["results"]["counts"]["received"], 20)

    def test_udp_text_request_too_small_for_its_tag_is_a_usage_error(self):
        proc = run_shout("ping", "--port", str(self.server.port), "--udp", "--size", "8",
                         "--count", "1")
        self.assertEqual(proc.returncode, EXIT_USAGE)
        self.assertIn(b"sequence tag", proc.stderr)


class PingAgainstFakeServers(unittest.TestCase):
    def test_one_wrong_reply_is_counted_and_exits_6(self):
        for mode in MODES:
            udp, framed = "--udp" in mode, "--framed" in mode
            with self.subTest(mode=mode_name(mode)), \
                    FakeServer(udp, framed, corrupt_reply(7)) as fake:
                proc, result = run_measure(self, "ping", fake.port, "--count", "20",
                                           "--warmup", "0", "--size", "32",
                                           "--no-server-stats", *mode, expect=EXIT_MISMATCH)
                counts = result["results"]["counts"]
                self.assertEqual(counts["mismatches"], 1)
                self.assertEqual(counts["received"], 19)
                self.assertEqual(counts["sent"], 20)
                self.assertIn(b"mismatch", proc.stderr)

    def test_udp_every_tenth_datagram_dropped_is_counted_lost(self):
        for mode in (("--udp",), ("--udp", "--framed")):
            with self.subTest(mode=mode_name(mode)), \
                    FakeServer(True, "--framed" in mode, drop_every(10)) as fake:
                _, result = run_measure(self, "ping", fake.port, "--count", "50",
                                        "--warmup", "0", "--size", "32", "--timeout", "0.2",
                                        "--no-server-stats", *mode)
                counts = result["results"]["counts"]
                self.assertEqual(counts["sent"], 50)
                self.assertEqual(counts["lost"], 5)
                self.assertEqual(counts["received"], 45)
                self.assertEqual(counts["mismatches"], 0)
                self.assertEqual(result["results"]["latency"]["count"], 45)

    def test_a_refused_connection_exits_3(self):
        port = free_port(socket.SOCK_STREAM)
        proc = run_shout("ping", "--port", str(port), "--count", "1", "--no-server-stats")
        self.assertEqual(proc.returncode, EXIT_NETWORK, proc.stderr)

    def test_a_tcp_server_that_never_replies_exits_4(self):
        with FakeServer(False, False, lambda n, right: None) as fake:
            proc = run_shout("ping", "--port", str(fake.port), "--count", "1", "--warmup",
                             "0", "--timeout", "0.3", "--no-server-stats", "--size", "32",
                             timeout=RUN_TIMEOUT)
        self.assertEqual(proc.returncode, EXIT_TIMEOUT, proc.stderr)


class SockperfServer:
    """A real `sockperf server` on a free loopback port, stopped by PID."""

    def __init__(self, tcp):
        path = shutil.which("sockperf")
        if not path:
            raise unittest.SkipTest("sockperf is not installed")
        self.port = free_port(socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        self.out = tempfile.TemporaryFile()
        args = [path, "server", "-i", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(args + (["--tcp"] if tcp else []),
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT)
        self._wait_listening(tcp)

    def _wait_listening(self, tcp):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if tcp:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    pass
            else:
                self.out.seek(0)
                if b"using" in self.out.read():  # its last start-up line
                    return
            if self.proc.poll() is not None:
                raise AssertionError("sockperf server exited at start")
            time.sleep(0.05)
        raise AssertionError("sockperf server did not start listening")

    def close(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.out.close()


class PingSockperfFormat(unittest.TestCase):
    def test_against_a_real_sockperf_server(self):
        for tcp in (False, True):
            with self.subTest(tcp=tcp):
                server = SockperfServer(tcp)
                self.addCleanup(server.close)
                args = () if tcp else ("--udp",)
                _, result = run_measure(self, "ping", server.port, "--sockperf", "--count",
                                        "300", "--warmup", "0.1", *args)
                counts = result["results"]["counts"]
                self.assertEqual(counts["received"], 300)
                self.assertEqual(counts["mismatches"], 0)
                self.assertEqual(counts["bytes_sent"], 300 * 64)  # --size is sockperf's -m
                self.assertIsNone(result["results"]["cpu"]["server"])

    def test_against_shoutds_sockperf_port_which_uppercases(self):
        if not SHOUTD:
            raise unittest.SkipTest("SHOUTD is not set")
        sockperf_port = free_port(socket.SOCK_STREAM)
        server = Server("--sockperf-port", str(sockperf_port))
        self.addCleanup(server.close)
        for args in ((), ("--udp",)):
            with self.subTest(args=args):
                _, result = run_measure(self, "ping", sockperf_port, "--sockperf", "--count",
                                        "200", "--warmup", "0", "--size", "100", *args)
                counts = result["results"]["counts"]
                self.assertEqual(counts["received"], 200)
                self.assertEqual(counts["mismatches"], 0)
        self.assertEqual(server.stop(), 0, server.stderr_text())

    def test_sockperf_message_below_its_header_is_a_usage_error(self):
        proc = run_shout("ping", "--sockperf", "--size", "13", "--count", "1")
        self.assertEqual(proc.returncode, EXIT_USAGE)



class BusyPollOnShoutdsCpuTest(unittest.TestCase):
    """Two spinning ends on one CPU livelock: --busy-poll pinned to the CPU the
    stats port says shoutd is pinned to exits 2, before anything is sent."""

    def test_refused_on_shoutds_own_cpu_and_allowed_elsewhere(self):
        if not SHOUTD:
            self.skipTest("SHOUTD is not set")
        cpus = sorted(os.sched_getaffinity(0))
        stats_port = free_port(socket.SOCK_STREAM)
        server = Server("--stats-port", str(stats_port), "--cpu", str(cpus[0]))
        self.addCleanup(server.close)
        args = ("--port", str(server.port), "--stats-port", str(stats_port), "--count", "20",
                "--warmup", "0", "--busy-poll")
        for command in ("ping", "load"):
            with self.subTest(command=command):
                proc = run_shout(command, *args, "--cpu", str(cpus[0]))
                self.assertEqual(proc.returncode, EXIT_USAGE, proc.stderr)
                self.assertIn(b"livelock", proc.stderr)
                self.assertEqual(proc.stdout, b"", "nothing may be measured")
                if len(cpus) > 1:
                    proc = run_shout(command, *args, "--cpu", str(cpus[1]))
                    self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(server.stop(), 0, server.stderr_text())


if __name__ == "__main__":
    unittest.main()
