"""UDP reply budgets (docs/hardening.md): a per-source token bucket
(--udp-rate-per-ip, burst 2R), a global one (--udp-rate), the loopback
exemption (--udp-rate-loopback turns it off), and sources that are never
answered (port 0, below 1024, shoutd's own port). Each drop is counted by
reason in the stats JSON, and a well-behaved client beside a flood is still
answered every time. Counts are bounded with the elapsed time measured, never
with a timing goal."""

import socket
import time
import unittest

from shoutlib import (SHOUTD, TIMEOUT, Server, bound_udp_socket, drain_replies, fetch_stats,
                      free_port, run_program)

FLOOD = 1000
CHUNK = 20          # datagrams sent before the client pauses
PAUSE = 0.002       # so that neither socket buffer overflows: every datagram reaches shoutd
MARGIN = 3          # replies beyond the bound that clock granularity could allow


class UdpLimitsTest(unittest.TestCase):

    def start(self, *args):
        self.stats_port = free_port(socket.SOCK_STREAM)
        self.server = Server("--stats-port", str(self.stats_port), *args)
        self.addCleanup(self.server.close)
        self.addr = ("127.0.0.1", self.server.port)

    def tearDown(self):
        self.assertTrue(self.server.running(),
                        "shoutd died during the test\n" + self.server.stderr_text())
        self.assertEqual(self.server.stop(), 0, self.server.stderr_text())

    def udp_stats(self, datagrams=None):
        """The stats "udp" object, once shoutd has read `datagrams` datagrams."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            udp = fetch_stats(self.stats_port)["udp"]
            if datagrams is None or udp["datagrams"] >= datagrams:
                return udp
            if time.monotonic() > deadline:
                raise AssertionError(f"shoutd read {udp['datagrams']} of {datagrams} datagrams")
            time.sleep(0.05)

    def flood(self, sock, count, beside=None, all_answered=False):
        """Send count datagrams from sock, pacing in chunks; between chunks the
        well-behaved client `beside` (if any) sends one and must get its reply,
        or (all_answered) every datagram of the chunk must be answered.
        Either way shoutd has read the chunk before the next is sent: its
        socket never holds more than a chunk, so the kernel never drops one
        however slowly a busy machine schedules shoutd.
        Returns when the flood started (time.monotonic())."""
        started = time.monotonic()
        for i in range(0, count, CHUNK):
            chunk = [b"flood %d" % j for j in range(i, min(i + CHUNK, count))]
            for datagram in chunk:
                sock.sendto(datagram, self.addr)
            if beside is not None:
                beside.sendto(b"polite %d" % i, self.addr)
                reply, source = beside.recvfrom(1 << 16)
                self.assertEqual((reply, source), (b"POLITE %d" % i, self.addr))
            if all_answered:
                replies = sorted(sock.recvfrom(1 << 16) for _ in chunk)
                self.assertEqual(replies, sorted((d.upper(), self.addr) for d in chunk))
            time.sleep(PAUSE)
        return started

    def test_flood_from_one_source_is_cut_to_its_budget_and_a_neighbour_is_answered(self):
        self.start("--udp-rate-loopback", "--udp-rate-per-ip", "50")
        attacker = bound_udp_socket("127.0.0.1")
        neighbour = bound_udp_socket("127.0.0.2")
        self.addCleanup(attacker.close)
        self.addCleanup(neighbour.close)
        started = self.flood(attacker, FLOOD, beside=neighbour)
        polite = (FLOOD + CHUNK - 1) // CHUNK
        udp = self.udp_stats(FLOOD + polite)
        elapsed = time.monotonic() - started
        answered = len(drain_replies(attacker))
        elapsed_bound = time.monotonic() - started
        self.assertGreaterEqual(answered, 100, "the burst of 2 x 50 was not given")
        self.assertLessEqual(answered, 100 + elapsed_bound * 50 + MARGIN,
                             f"{answered} replies in {elapsed:.2f} s")
        self.assertEqual(udp["datagrams"], FLOOD + polite)
        self.assertEqual(udp["dropped_rate"], FLOOD - answered)
        self.assertEqual(udp["replies"], answered + polite)
        self.assertEqual(udp["dropped_global_rate"], 0)
        self.assertEqual(udp["send_failed"], 0)

    def test_loopback_is_exempt_by_default(self):
        self.start("--udp-rate-per-ip", "50", "--udp-rate", "50")
        sock = bound_udp_socket("127.0.0.1")
        self.addCleanup(sock.close)
        self.flood(sock, FLOOD, all_answered=True)
        udp = self.udp_stats(FLOOD)
        self.assertEqual(len(drain_replies(sock)), 0, "more replies than datagrams")
        self.assertEqual((udp["dropped_rate"], udp["dropped_global_rate"], udp["replies"]),
                         (0, 0, FLOOD))

    def test_global_rate_bounds_all_sources_together(self):
        # Loopback is exempt from both budgets unless --udp-rate-loopback; the
        # per-source one is turned off so that only the global one counts.
        self.start("--udp-rate", "30", "--udp-rate-loopback", "--udp-rate-per-ip", "0")
        first = bound_udp_socket("127.0.0.5")
        second = bound_udp_socket("127.0.0.6")
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        started = time.monotonic()
        for i in range(100):
            (first if i % 2 else second).sendto(b"x%d" % i, self.addr)
            if i % CHUNK == CHUNK - 1:
                time.sleep(PAUSE)
        udp = self.udp_stats(100)
        answered = len(drain_replies(first)) + len(drain_replies(second))
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(answered, 30)
        self.assertLessEqual(answered, 30 + elapsed * 30 + MARGIN)
        self.assertEqual(udp["dropped_global_rate"], 100 - answered)
        self.assertEqual(udp["dropped_rate"], 0)

    def assert_source_never_answered(self, host, port):
        try:
            sock = bound_udp_socket(host, port)
        except OSError as err:
            self.skipTest(f"cannot bind {host}:{port} ({err}); binding a port below 1024 needs root")
        self.addCleanup(sock.close)
        sock.sendto(b"reflect me", self.addr)
        udp = self.udp_stats(1)
        self.assertEqual(len(drain_replies(sock)), 0, f"answered a datagram from {host}:{port}")
        self.assertEqual((udp["dropped_source_port"], udp["replies"]), (1, 0))
        # An ordinary source is still answered.
        with bound_udp_socket("127.0.0.1") as good:
            good.sendto(b"fine", self.addr)
            self.assertEqual(good.recvfrom(1 << 16), (b"FINE", self.addr))

    def test_datagram_from_a_port_below_1024_is_dropped_and_counted(self):
        self.start()
        self.assert_source_never_answered("127.0.0.3", 1023)

    def test_datagram_from_shoutds_own_port_is_dropped_and_counted(self):
        self.start()
        # Another loopback address, the same port: what a second shoutd would send from.
        self.assert_source_never_answered("127.0.0.4", self.server.port)


class UdpLimitOptionsTest(unittest.TestCase):

    def test_help_lists_every_udp_limit_flag(self):
        out = run_program(SHOUTD, "--help").stdout.decode()
        for flag in ("--udp-rate-per-ip", "--udp-rate-burst", "--udp-rate-loopback", "--udp-rate "):
            self.assertIn(flag, out)

    def test_bad_udp_limit_values_are_usage_errors(self):
        for args in (("--udp-rate-per-ip", "fast"), ("--udp-rate-per-ip", "100000001"),
                     ("--udp-rate", "-1"), ("--udp-rate-burst", "0"), ("--udp-rate", "1K")):
            result = run_program(SHOUTD, *args)
            self.assertEqual(result.returncode, 2, args)
            self.assertIn(args[0], result.stderr.decode())


if __name__ == "__main__":
    unittest.main()
