"""How shoutd reads a UDP socket: one datagram at a time for ping-pong,
batches once datagrams queue up (lib/udp_pace.h).

strace, attached to a running shoutd, counts its receive calls. Ping-pong
traffic must go through recvfrom, with a recvmmsg probe at most once in
UDP_PACE_PROBE_EVERY reads; a queue must be read in batches. Each test also
checks every reply and shoutd's own datagram count, so that a test cannot
pass by losing traffic.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from shoutlib import TIMEOUT, PortsServer, bound_udp_socket, fetch_stats

PROBE_EVERY = 16  # lib/udp_pace.h's UDP_PACE_PROBE_EVERY


class Straced:
    """strace -c attached to a running process; the call counts once detached."""

    def __init__(self, pid, calls):
        self.tmp = tempfile.TemporaryDirectory()
        self.summary = os.path.join(self.tmp.name, "strace.txt")
        self.proc = subprocess.Popen(["strace", "-c", "-o", self.summary, "-e",
                                      "trace=" + ",".join(calls), "-p", str(pid)],
                                     stderr=subprocess.PIPE, text=True)
        # strace says on stderr when it is attached; nothing may be counted before.
        line = self.proc.stderr.readline()
        if "attached" not in line:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"strace did not attach: {line!r}")

    def detach(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(TIMEOUT)
        self.proc.stderr.close()
        calls = {}
        with open(self.summary) as f:
            for line in f:
                # % time, seconds, usecs/call, calls, [errors,] syscall
                fields = line.split()
                if len(fields) >= 5 and re.fullmatch(r"[0-9]+", fields[3]):
                    calls[fields[-1]] = int(fields[3])
        self.tmp.cleanup()
        return calls


@unittest.skipUnless(shutil.which("strace"), "strace is not installed")
class UdpPaceTest(unittest.TestCase):

    def setUp(self):
        self.server = PortsServer()
        self.addCleanup(self.server.close)
        self.client = bound_udp_socket("127.0.0.1")
        self.addCleanup(self.client.close)
        self.addr = ("127.0.0.1", self.server.port)

    def datagrams_seen(self):
        return fetch_stats(self.server.stats_port)["udp"]["datagrams"]

    def test_ping_pong_reads_one_datagram_at_a_time(self):
        exchanges = 20 * PROBE_EVERY
        before = self.datagrams_seen()
        strace = Straced(self.server.proc.pid, ["recvfrom", "recvmmsg"])
        try:
            for i in range(exchanges):
                request = b"ping %d" % i
                self.client.sendto(request, self.addr)
                reply, source = self.client.recvfrom(1 << 16)
                self.assertEqual((reply, source), (request.upper(), self.addr))
        finally:
            calls = strace.detach()
        self.assertEqual(self.datagrams_seen() - before, exchanges)
        # Every read found its datagram: no extra reads, and batches only as probes.
        self.assertLessEqual(calls.get("recvmmsg", 0), exchanges // PROBE_EVERY + 1, calls)
        self.assertGreaterEqual(calls.get("recvfrom", 0),
                                exchanges - exchanges // PROBE_EVERY - 1, calls)

    def test_a_queue_is_read_in_batches(self):
        queued = 120  # fits shoutd's default receive buffer, so none is dropped
        before = self.datagrams_seen()
        strace = Straced(self.server.proc.pid, ["recvfrom", "recvmmsg"])
        os.kill(self.server.proc.pid, signal.SIGSTOP)
        try:
            for i in range(queued):
                self.client.sendto(b"queued %d" % i, self.addr)
        finally:
            os.kill(self.server.proc.pid, signal.SIGCONT)
        try:
            replies = sorted(self.client.recvfrom(1 << 16)[0] for _ in range(queued))
        finally:
            calls = strace.detach()
        self.assertEqual(replies, sorted(b"QUEUED %d" % i for i in range(queued)))
        self.assertEqual(self.datagrams_seen() - before, queued)
        # Single reads until the first probe finds the queue, then batches of up to 64:
        # far fewer reads than datagrams. One read per datagram fails this.
        reads = calls.get("recvfrom", 0) + calls.get("recvmmsg", 0)
        self.assertLessEqual(reads, PROBE_EVERY + queued // 64 + 3, calls)
        self.assertGreaterEqual(calls.get("recvmmsg", 0), 1, calls)


if __name__ == "__main__":
    unittest.main()
