"""The stats port: one JSON object per connection, counters that move by
exactly what was sent, loopback by default, --no-stats, and --cpu; HTTP
GET /metrics (scraped by curl, read by prometheus_client's parser) and
GET /stats.json; --stats-listen beyond loopback only with --stats-allow."""

import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from shoutlib import (ERR_BAD_VERSION, HEADER_LEN, SHOUT, SHOUTD, TIMEOUT, TYPE_ERROR, TYPE_REPLY,
                      PortsServer, ServerTestCase, connect, encode_frame, fetch_stats,
                      have_ipv6_loopback, recv_exact, recv_frame, recv_until_eof, run_program,
                      udp_socket)

TOP_KEYS = ["format", "shoutd", "pid", "uptime_s", "cpu", "pinned_cpu", "rusage", "loop_wakeups",
            "malloc_trims", "busy_poll_us", "loop_spins", "tcp",
            "udp", "sockperf", "shutdown", "stats_port", "errors"]
SECTION_KEYS = {
    "rusage": ["user_s", "system_s"],
    "tcp": ["open", "accepted", "closed", "resets", "refused_no_fds", "accept_pauses",
            "refused_max_conns",
            "refused_per_ip", "refused_no_memory", "lingers_expired", "timeouts_frame", "timeouts_idle",
            "timeouts_write", "requests", "text_bytes", "bytes_in", "bytes_out",
            "bytes_discarded", "buffered", "closed_memory", "closed_memory_per_ip"],
    "udp": ["datagrams", "replies", "bytes_in", "bytes_out", "dropped_empty", "dropped_short",
            "dropped_source_port", "dropped_rate", "dropped_global_rate", "error_replies",
            "send_failed", "rate_evictions"],
    "sockperf": ["messages", "replies", "bad_length"],
    "stats_port": ["answered_line", "answered_http", "refused_source", "cut_slow", "cut_large",
                   "bad_requests", "busy"],
    "errors": ["bad_magic", "bad_version", "bad_type", "too_large", "unexpected_type",
               "length_mismatch", "shutting_down", "no_memory"],
}
COUNTER_SECTIONS = ("tcp", "udp", "sockperf", "errors")


class PortsTestCase(ServerTestCase):
    """ServerTestCase with a PortsServer."""

    def setUp(self):
        self.server = PortsServer(*self.server_args)
        self.addCleanup(self.server.close)
        self.port = self.server.port

    def stats(self, host="127.0.0.1"):
        return fetch_stats(self.server.stats_port, host)


def counter_deltas(before, after):
    """{(section, name): after - before} for every counter."""
    return {(section, name): after[section][name] - before[section][name]
            for section in COUNTER_SECTIONS for name in SECTION_KEYS[section]}


def listening_tcp(pid):
    """(address, port) of every listening TCP socket the process holds, from /proc."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        if not os.path.exists(table):
            continue
        with open(table, encoding="ascii") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                    continue
                addr_hex, port_hex = fields[1].split(":")
                raw = bytes.fromhex(addr_hex)
                # The kernel prints the address as 32-bit words in host (little-endian) order.
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.append((socket.inet_ntop(family, raw), int(port_hex, 16)))
    return sorted(found)


class StatsTest(PortsTestCase):

    def test_line_2_names_the_stats_port_and_the_object_has_every_field(self):
        self.assertEqual(len(self.server.lines), 2)
        # --port 0: the stats port still follows the main port, so a client finds it.
        self.assertEqual(self.server.stats_port, self.port + 1)
        stats = self.stats()
        self.assertEqual(list(stats), TOP_KEYS)
        for section, keys in SECTION_KEYS.items():
            self.assertEqual(list(stats[section]), keys, section)
        version = run_program(SHOUTD, "--version").stdout.decode().split()[-1]
        self.assertEqual(stats["shoutd"], version)
        self.assertEqual(stats["format"], 1)
        self.assertEqual(stats["pid"], self.server.proc.pid)
        self.assertEqual(stats["pinned_cpu"], -1)
        self.assertIn(stats["cpu"], range(os.cpu_count()))
        self.assertGreaterEqual(stats["uptime_s"], 0)
        for section in COUNTER_SECTIONS:
            for name, value in stats[section].items():
                self.assertIsInstance(value, int, name)
                self.assertEqual(value, 0, f"{section}.{name} before any traffic")

    def test_stats_connections_are_not_counted(self):
        for _ in range(3):
            stats = self.stats()
        self.assertEqual(stats["tcp"]["accepted"], 0)
        self.assertEqual(stats["tcp"]["closed"], 0)

    def wait_for_closed(self, before, count):
        """The server closes a connection after it reads the client's EOF: wait for it."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            after = self.stats()
            if after["tcp"]["closed"] - before["tcp"]["closed"] >= count:
                return after
            if time.monotonic() > deadline:
                self.fail(f"only {after['tcp']['closed']} connections closed: {after}")
            time.sleep(0.01)

    def send_framed(self, count):
        """count pipelined requests; returns (bytes sent, bytes received, payload bytes)."""
        payloads = [b"request %d" % i * (i + 1) for i in range(count)]
        stream = b"".join(encode_frame(p, i) for i, p in enumerate(payloads))
        received = 0
        with connect(self.port) as sock:
            sock.sendall(stream)
            for i, payload in enumerate(payloads):
                header, body = recv_frame(sock)
                self.assertEqual((header.type, header.id, body), (TYPE_REPLY, i, payload.upper()))
                received += HEADER_LEN + len(body)
        return len(stream), received, sum(map(len, payloads))

    def send_bad_frame(self):
        """One frame with version 2: an error frame comes back, then EOF."""
        frame = encode_frame(b"", 99, version=2)
        with connect(self.port) as sock:
            sock.sendall(frame)
            header, body = recv_frame(sock)
            self.assertEqual(header.type, TYPE_ERROR)
            self.assertEqual(struct.unpack(">H", body[:2])[0], ERR_BAD_VERSION)
            self.assertEqual(recv_until_eof(sock), b"")
        return len(frame), HEADER_LEN + len(body)

    def send_udp(self):
        """Datagrams: 3 text, 2 framed, 1 empty, 1 too short; returns (sent, answered) bytes."""
        answered = [b"one", b"two two", b"three 3", encode_frame(b"framed", 1),
                    encode_frame(b"framed again", 2)]
        dropped = [b"", b"\xf5\x55"]
        with udp_socket() as sock:
            # The drops first: the last reply then proves they were all handled.
            for datagram in dropped + answered:
                sock.sendto(datagram, ("127.0.0.1", self.port))
            replies = [sock.recv(1 << 16) for _ in answered]
        self.assertEqual(replies[:3], [b"ONE", b"TWO TWO", b"THREE 3"])
        self.assertEqual(replies[4][HEADER_LEN:], b"FRAMED AGAIN")
        return sum(map(len, dropped + answered)), sum(map(len, replies))

    def test_counters_move_by_exactly_what_was_sent(self):
        before = self.stats()
        framed_in, framed_out, framed_payload = self.send_framed(10)
        with connect(self.port) as sock:
            sock.sendall(b"some text!")
            self.assertEqual(recv_exact(sock, 10), b"SOME TEXT!")
        bad_in, bad_out = self.send_bad_frame()
        udp_in, udp_out = self.send_udp()
        after = self.wait_for_closed(before, 3)

        want = dict.fromkeys(counter_deltas(before, before), 0)
        want.update({
            ("tcp", "accepted"): 3,
            ("tcp", "closed"): 3,
            ("tcp", "requests"): 10,
            ("tcp", "text_bytes"): 10,
            ("tcp", "bytes_in"): framed_in + 10 + bad_in,
            ("tcp", "bytes_out"): framed_out + 10 + bad_out,
            ("udp", "datagrams"): 7,
            ("udp", "replies"): 5,
            ("udp", "bytes_in"): udp_in,
            ("udp", "bytes_out"): udp_out,
            ("udp", "dropped_empty"): 1,
            ("udp", "dropped_short"): 1,
            ("errors", "bad_version"): 1,
        })
        self.assertGreater(framed_payload, 0)
        self.assertEqual(counter_deltas(before, after), want)
        self.assertGreaterEqual(after["uptime_s"], before["uptime_s"])
        self.assertGreater(after["uptime_s"], 0)
        for clock in ("user_s", "system_s"):
            self.assertGreaterEqual(after["rusage"][clock], before["rusage"][clock])

    def test_stats_socket_is_the_only_other_listener_and_is_on_loopback(self):
        self.assertEqual(listening_tcp(self.server.proc.pid),
                         sorted([("127.0.0.1", self.port), ("127.0.0.1", self.server.stats_port)]))


class NoStatsTest(PortsTestCase):
    server_args = ("--no-stats",)

    def test_no_line_2_and_no_stats_listener(self):
        self.assertEqual(self.server.lines, [str(self.port)])
        self.assertEqual(listening_tcp(self.server.proc.pid), [("127.0.0.1", self.port)])
        self.assert_serves_text()
        self.assertEqual(self.server.stop(), 0, self.server.stderr_text())
        self.assertEqual(self.server.rest_of_stdout(), b"")


class Ipv6Case(PortsTestCase):

    def setUp(self):
        if not have_ipv6_loopback():
            self.skipTest("this machine has no IPv6 loopback (::1)")
        super().setUp()

    def stats_addresses(self):
        """The addresses the stats port listens on, sorted."""
        return sorted(addr for addr, port in listening_tcp(self.server.proc.pid)
                      if port == self.server.stats_port)

    def assert_ping_finds_the_counters(self, host, count):
        """shout ping --host HOST --port P, with no stats flag, reports the
        server's counters for at least its COUNT messages."""
        out = os.path.join(self.enterContext(tempfile.TemporaryDirectory()), "ping.json")
        result = run_program(SHOUT, "ping", "--host", host, "--port", str(self.port),
                             "--count", str(count), "--json", out)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(out, encoding="utf-8") as f:
            server = json.load(f)["results"]["cpu"]["server"]
        self.assertIsNotNone(server, "shout ping found no server counters")
        self.assertGreaterEqual(server["messages"], count)


class StatsStayOnLoopbackTest(Ipv6Case):
    server_args = ("--listen", "::1")

    def test_stats_listen_is_loopback_and_on_the_listen_address_too(self):
        self.assertEqual(listening_tcp(self.server.proc.pid),
                         sorted([("::1", self.port), ("127.0.0.1", self.server.stats_port),
                                 ("::1", self.server.stats_port)]))
        self.assertEqual(self.stats("127.0.0.1")["tcp"]["accepted"], 0)
        self.assertEqual(self.stats("::1")["pid"], self.server.proc.pid)

    def test_shout_ping_finds_the_counters_with_no_stats_flag(self):
        # --host ::1 --port P, as docs/shoutd.md's --port 0 recipe does: no --stats-port.
        self.assert_ping_finds_the_counters("::1", 50)


class StatsOnEveryLoopbackListenTest(Ipv6Case):
    server_args = ("--listen", "127.0.0.2", "--listen", "::1")

    def test_each_loopback_listen_address_and_127_0_0_1(self):
        self.assertEqual(self.stats_addresses(), ["127.0.0.1", "127.0.0.2", "::1"])
        for host in ("127.0.0.1", "127.0.0.2", "::1"):
            self.assertEqual(self.stats(host)["pid"], self.server.proc.pid)


class StatsOnWildcardListenTest(Ipv6Case):
    """--listen :: serves ::1 too, so a client that measures --host ::1 must
    find the counters there without --stats-port."""
    server_args = ("--listen", "::")

    def test_the_ipv6_wildcard_gets_stats_on_ipv6_loopback(self):
        self.assertEqual(self.stats_addresses(), ["127.0.0.1", "::1"])
        self.assert_ping_finds_the_counters("::1", 20)


class StatsListenTest(Ipv6Case):
    server_args = ("--stats-listen", "[::1]")

    def test_stats_listen_moves_the_stats_socket(self):
        self.assertEqual(listening_tcp(self.server.proc.pid),
                         sorted([("127.0.0.1", self.port), ("::1", self.server.stats_port)]))
        self.assertEqual(self.stats("::1")["pid"], self.server.proc.pid)


class DefaultStatsPortTest(unittest.TestCase):

    @staticmethod
    def free_pair():
        """A port P with P and P + 1 free for TCP (and P for UDP) on 127.0.0.1, or None."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            return None
        for kind, candidate in ((socket.SOCK_STREAM, port), (socket.SOCK_DGRAM, port),
                                (socket.SOCK_STREAM, port + 1)):
            with socket.socket(socket.AF_INET, kind) as sock:
                try:
                    sock.bind(("127.0.0.1", candidate))
                except OSError:
                    return None
        return port

    def test_stats_port_defaults_to_the_port_plus_one(self):
        # Another program may take the ports between the probe and the start: try again.
        for _ in range(5):
            port = self.free_pair()
            if port is None:
                continue
            try:
                server = PortsServer("--port", str(port))
            except AssertionError:
                continue
            try:
                self.assertEqual(server.lines, [str(port), f"stats {port + 1}"])
                self.assertEqual(fetch_stats(port + 1)["pid"], server.proc.pid)
                self.assertEqual(server.stop(), 0, server.stderr_text())
            finally:
                server.close()
            return
        self.fail("found no free pair of ports in 5 tries")

    def test_port_65535_with_the_default_stats_port_is_a_usage_error(self):
        result = run_program(SHOUTD, "--port", "65535")
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"--stats-port", result.stderr)
        self.assertEqual(result.stdout, b"")

    def test_bad_stats_options_are_usage_errors(self):
        for args in (("--stats-port", "65536"), ("--stats-port", "x"), ("--stats-listen", "nowhere"),
                     ("--stats-listen",)):
            with self.subTest(args=args):
                result = run_program(SHOUTD, *args)
                self.assertEqual(result.returncode, 2)
                self.assertNotEqual(result.stderr.strip(), b"")


class CpuTest(unittest.TestCase):

    def test_cpu_0_pins_the_server_and_the_stats_say_so(self):
        if 0 not in os.sched_getaffinity(0):
            self.skipTest("CPU 0 is not available to this process")
        server = PortsServer("--cpu", "0")
        try:
            self.assertEqual(os.sched_getaffinity(server.proc.pid), {0})
            stats = fetch_stats(server.stats_port)
            self.assertEqual((stats["pinned_cpu"], stats["cpu"]), (0, 0))
            self.assertEqual(server.stop(), 0, server.stderr_text())
        finally:
            server.close()

    def test_a_cpu_this_process_cannot_use_exits_2_with_one_line(self):
        allowed = os.sched_getaffinity(0)
        unusable = next(cpu for cpu in range(1023, -1, -1) if cpu not in allowed)
        result = run_program(SHOUTD, "--port", "0", "--cpu", str(unusable))
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stdout, b"", "nothing may be served")
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertIn(b"--cpu", result.stderr)

    def test_a_cpu_that_is_not_a_number_exits_2(self):
        for value in ("x", "-1", "1024", "1K"):
            with self.subTest(value=value):
                result = run_program(SHOUTD, "--cpu", value)
                self.assertEqual(result.returncode, 2)
                self.assertIn(b"--cpu", result.stderr)


class BusyPollTest(unittest.TestCase):
    """--busy-poll USEC: the loop polls without sleeping after each batch, serves
    every client as before, and the stats say so (busy_poll_us, loop_spins)."""

    def serve_and_read_stats(self, *args):
        server = PortsServer(*args)
        self.addCleanup(server.close)
        fetch_stats(server.stats_port)
        with connect(server.port) as sock:
            for i in range(20):
                sock.sendall(encode_frame(b"spin %d" % i, i))
                header, payload = recv_frame(sock)
                self.assertEqual((header.type, header.id, payload),
                                 (TYPE_REPLY, i, b"SPIN %d" % i))
        time.sleep(0.05)  # past the spin: shoutd sleeps again
        stats = fetch_stats(server.stats_port)
        self.assertEqual(server.stop(), 0, server.stderr_text())
        return stats

    def test_a_spinning_loop_serves_and_counts_its_spins(self):
        stats = self.serve_and_read_stats("--busy-poll", "2000")
        self.assertEqual(stats["busy_poll_us"], 2000)
        self.assertGreater(stats["loop_spins"], 0)
        self.assertEqual(stats["tcp"]["requests"], 20)

    def test_by_default_the_loop_never_spins(self):
        stats = self.serve_and_read_stats()
        self.assertEqual(stats["busy_poll_us"], 0)
        self.assertEqual(stats["loop_spins"], 0)
        self.assertEqual(stats["tcp"]["requests"], 20)

    def test_a_spin_that_is_not_microseconds_up_to_a_second_exits_2(self):
        for value in ("x", "-1", "1000001", "1.5"):
            with self.subTest(value=value):
                result = run_program(SHOUTD, "--busy-poll", value)
                self.assertEqual(result.returncode, 2)
                self.assertIn(b"--busy-poll", result.stderr)


def curl(url, *args):
    """curl's (status, body) for url, or skip when curl is not installed."""
    if shutil.which("curl") is None:
        raise unittest.SkipTest("curl is not installed (ci/install-deps curl)")
    result = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), "-o", "-",
                             "-w", "\n%{http_code}", *args, url],
                            capture_output=True, check=False, timeout=TIMEOUT + 5)
    if result.returncode != 0:
        raise AssertionError(f"curl {url} failed: {result.stderr!r}")
    body, _, code = result.stdout.rpartition(b"\n")
    return int(code), body


class HttpTest(PortsTestCase):
    server_args = ()

    def url(self, path):
        return f"http://127.0.0.1:{self.server.stats_port}{path}"

    def test_curl_scrapes_metrics_that_prometheus_client_parses(self):
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError:
            self.skipTest("python3-prometheus-client is not installed")
        # One malformed UDP datagram (too short for an error frame) and one text datagram.
        with udp_socket() as sock:
            sock.sendto(b"\xf5", ("127.0.0.1", self.port))
            sock.sendto(b"hi", ("127.0.0.1", self.port))
            sock.settimeout(TIMEOUT)
            self.assertEqual(sock.recvfrom(100)[0], b"HI")
        status, body = curl(self.url("/metrics"))
        self.assertEqual(status, 200)
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        for name in ("shoutd_tcp_accepted", "shoutd_tcp_refused", "shoutd_udp_dropped",
                     "shoutd_udp_datagrams", "shoutd_error_frames", "shoutd_cpu_seconds"):
            self.assertIn(name, families)
            self.assertEqual(families[name].type, "counter", name)
            for sample in families[name].samples:
                self.assertTrue(sample.name.endswith("_total"), sample.name)
        self.assertEqual(families["shoutd_tcp_open_connections"].type, "gauge")
        values = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                  for family in families.values() for sample in family.samples}
        self.assertEqual(values[("shoutd_udp_datagrams_total", ())], 2)
        self.assertEqual(values[("shoutd_udp_dropped_total", (("reason", "short"),))], 1)
        self.assertEqual(values[("shoutd_udp_dropped_total", (("reason", "rate"),))], 0)
        self.assertEqual(values[("shoutd_tcp_refused_total", (("reason", "per_ip"),))], 0)
        self.assertEqual(
            values[("shoutd_error_frames_total", (("code", "4"), ("name", "too_large")))], 0)
        # The same counters as the JSON.
        self.assertEqual(self.stats()["udp"]["dropped_short"], 1)

    def test_stats_json_is_the_json_line_with_its_format(self):
        status, body = curl(self.url("/stats.json"))
        self.assertEqual(status, 200)
        stats = json.loads(body)
        self.assertEqual(list(stats), TOP_KEYS)
        self.assertEqual(stats["format"], 1)
        self.assertEqual(stats["pid"], self.server.proc.pid)
        self.assertEqual(curl(self.url("/"))[0], 200)

    def test_other_paths_and_methods_get_http_errors_and_are_counted(self):
        self.assertEqual(curl(self.url("/nope"))[0], 404)
        self.assertEqual(curl(self.url("/metrics"), "-X", "POST")[0], 405)
        self.assertEqual(self.stats()["stats_port"]["bad_requests"], 2)

    def test_a_client_that_sends_nothing_gets_the_json_line(self):
        # Without a half-close: what a script written for the first stats port does.
        stats = fetch_stats(self.server.stats_port, half_close=False)
        self.assertEqual(stats["pid"], self.server.proc.pid)
        self.assertEqual(stats["format"], 1)


class StatsAllowTest(unittest.TestCase):

    def test_stats_listen_beyond_loopback_without_stats_allow_exits_2_with_one_line(self):
        for address in ("0.0.0.0", "::", "192.0.2.1"):
            with self.subTest(address=address):
                result = run_program(SHOUTD, "--port", "0", "--stats-listen", address)
                self.assertEqual(result.returncode, 2)
                lines = result.stderr.decode().strip().splitlines()
                self.assertEqual(len(lines), 1, lines)
                self.assertIn("--stats-allow", lines[0])
                self.assertEqual(result.stdout, b"")

    def test_loopback_stats_listen_needs_no_permission(self):
        for address in ("127.0.0.2", "::1"):
            if address == "::1" and not have_ipv6_loopback():
                continue
            with self.subTest(address=address):
                server = PortsServer("--stats-listen", address)
                try:
                    self.assertEqual(fetch_stats(server.stats_port, address)["format"], 1)
                finally:
                    server.close()

    def test_stats_allow_lets_a_wildcard_stats_listen_start_and_serve_loopback(self):
        server = PortsServer("--stats-listen", "0.0.0.0", "--stats-allow", "192.0.2.0/24")
        try:
            self.assertIn(("0.0.0.0", server.stats_port), listening_tcp(server.proc.pid))
            self.assertEqual(fetch_stats(server.stats_port)["stats_port"]["refused_source"], 0)
        finally:
            server.close()

    def test_bad_stats_allow_values_are_usage_errors(self):
        for value in ("10.0.0.0/33", "nowhere", "::/129", "10.0.0.0/"):
            with self.subTest(value=value):
                result = run_program(SHOUTD, "--stats-allow", value)
                self.assertEqual(result.returncode, 2)
                self.assertIn(b"--stats-allow", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
