"""IPv6 sources are counted by prefix (--ipv6-prefix, default 64; issue 9,
point 4): the addresses of one /64 share one --max-conns-per-ip cap and one
--udp-rate-per-ip budget, since whoever holds a /64 can use any of its 2^64
addresses.

The test needs addresses of one /64 that it can bind: it moves itself into a
network namespace of its own (unshare(CLONE_NEWNET), which needs root), puts
2001:db8:1:2::/64 (documentation space) and a few neighbours on that
namespace's loopback device, and runs shoutd there. No packet leaves the
namespace. Without root, unshare or `ip`, every test here is skipped with
the reason.
"""

import ctypes
import os
import shutil
import socket
import subprocess
import time
import unittest

from shoutlib import TIMEOUT, PortsServer, drain_replies, fetch_stats, recv_exact

CLONE_NEWNET = 0x40000000
SERVER = "2001:db8:1:2::1"
ONE_64 = [f"2001:db8:1:2::{n:x}" for n in range(0x11, 0x16)]   # five sources, one /64
OTHER_64 = "2001:db8:1:3::11"                                    # same /48, another /64
MARGIN = 3   # replies beyond the budget that clock granularity could allow
# A fixed secret for the per-source tables (test-only, docs/hardening.md): with
# a random one, two sources meant to be apart could share a TCP slot, 1 time in
# 65536, and be refused together.
TEST_SEED = "a5a5a5a5000000015a5a5a5a00000002"


def enter_private_network():
    """Move this process into a new network namespace with the test's addresses on lo;
    raises SkipTest (with the reason) when that cannot be done."""
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root for a network namespace of its own")
    ip = shutil.which("ip")
    if ip is None:
        raise unittest.SkipTest("no `ip` (iproute2) to set up the namespace")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise unittest.SkipTest(f"unshare(CLONE_NEWNET): {os.strerror(err)}")
    commands = [[ip, "link", "set", "lo", "up"]]
    for address in [SERVER, *ONE_64, OTHER_64]:
        commands.append([ip, "-6", "addr", "add", f"{address}/64", "dev", "lo", "nodad"])
    for command in commands:
        done = subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)
        if done.returncode != 0:
            raise unittest.SkipTest(f"{' '.join(command)}: {done.stderr.decode().strip()}")


def setUpModule():
    enter_private_network()


def connect6_from(source, port):
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.settimeout(TIMEOUT)
        sock.bind((source, 0))
        sock.connect((SERVER, port))
    except BaseException:
        sock.close()
        raise
    return sock


def answered(sock):
    """Whether shoutd serves the connection (True) or closed it at once (False)."""
    try:
        sock.sendall(b"hello")
        return recv_exact(sock, 5) == b"HELLO"
    except (ConnectionError, AssertionError):
        return False


def udp6_socket(source):
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    sock.bind((source, 0))
    sock.settimeout(TIMEOUT)
    return sock


class PrefixTestCase(unittest.TestCase):
    def start(self, *args):
        env = dict(os.environ, SHOUTD_TEST_SEED=TEST_SEED)
        self.server = PortsServer("--listen", SERVER, *args, env=env)
        self.addCleanup(self.server.close)
        return self.server

    def stats(self):
        return fetch_stats(self.server.stats_port)

    def wait_stats(self, predicate, what):
        deadline = time.monotonic() + TIMEOUT
        while True:
            now = self.stats()
            if predicate(now):
                return now
            if time.monotonic() > deadline:
                self.fail(f"{what} did not happen within {TIMEOUT} s: {now}")
            time.sleep(0.02)

    def tearDown(self):
        if not hasattr(self, "server"):
            return  # shoutd did not start: setUp's failure says why
        self.assertTrue(self.server.running(), self.server.stderr_text())
        self.assertEqual(self.server.stop(), 0, self.server.stderr_text())

    def open_all(self, sources):
        socks = [connect6_from(source, self.server.port) for source in sources]
        for sock in socks:
            self.addCleanup(sock.close)
        return [answered(sock) for sock in socks]


class TcpPrefixTest(PrefixTestCase):
    def test_one_64_shares_one_per_source_cap(self):
        self.start("--max-conns-per-ip", "3")
        served = self.open_all(ONE_64)
        after = self.wait_stats(lambda s: s["tcp"]["refused_per_ip"] >= 2, "2 refusals")
        self.assertEqual(served.count(True), 3, served)
        self.assertEqual(after["tcp"]["refused_per_ip"], 2, after["tcp"])
        self.assertEqual(after["tcp"]["accepted"], 3, after["tcp"])
        # The next /64 is another source, with a cap of its own.
        self.assertEqual(self.open_all([OTHER_64]), [True])

    def test_prefix_128_counts_every_address_alone(self):
        self.start("--max-conns-per-ip", "3", "--ipv6-prefix", "128")
        self.assertEqual(self.open_all(ONE_64), [True] * 5)
        after = self.wait_stats(lambda s: s["tcp"]["accepted"] >= 5, "5 accepts")
        self.assertEqual(after["tcp"]["refused_per_ip"], 0, after["tcp"])

    def test_prefix_48_puts_two_64s_together(self):
        self.start("--max-conns-per-ip", "1", "--ipv6-prefix", "48")
        self.assertEqual(self.open_all([ONE_64[0], OTHER_64]), [True, False])
        after = self.wait_stats(lambda s: s["tcp"]["refused_per_ip"] >= 1, "1 refusal")
        self.assertEqual(after["tcp"]["refused_per_ip"], 1, after["tcp"])


class UdpPrefixTest(PrefixTestCase):
    """Non-loopback sources are always under --udp-rate-per-ip: one source
    spends its burst, then a second address of the same /64 asks."""

    RATE = 10              # burst 2 x RATE
    BURST = 2 * RATE
    EACH = 60              # datagrams from each of the two sources

    def spend_then_ask(self):
        """(first's replies, second's replies, seconds both took) for EACH datagrams each."""
        first, second = udp6_socket(ONE_64[0]), udp6_socket(ONE_64[1])
        self.addCleanup(first.close)
        self.addCleanup(second.close)
        started = time.monotonic()
        for sock in (first, second):
            for i in range(self.EACH):
                sock.sendto(b"datagram %d" % i, (SERVER, self.server.port))
        self.wait_stats(lambda s: s["udp"]["datagrams"] >= 2 * self.EACH, "every datagram read")
        elapsed = time.monotonic() - started
        return len(drain_replies(first)), len(drain_replies(second)), elapsed

    def test_two_addresses_of_one_64_share_one_budget(self):
        self.start("--udp-rate-per-ip", str(self.RATE))
        first, second, elapsed = self.spend_then_ask()
        bound = self.BURST + self.RATE * elapsed + MARGIN
        self.assertGreaterEqual(first, self.BURST, "the burst was not given")
        self.assertLessEqual(first + second, bound, (first, second, elapsed))
        udp = self.stats()["udp"]
        self.assertEqual(udp["dropped_rate"], 2 * self.EACH - first - second, udp)

    def test_prefix_128_gives_each_address_its_own_budget(self):
        self.start("--udp-rate-per-ip", str(self.RATE), "--ipv6-prefix", "128")
        first, second, _ = self.spend_then_ask()
        self.assertGreaterEqual(first, self.BURST)
        self.assertGreaterEqual(second, self.BURST, "the second address got no burst of its own")


if __name__ == "__main__":
    unittest.main(verbosity=2)
