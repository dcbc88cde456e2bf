"""UDP segmentation offload (UDP_SEGMENT) and its fallbacks.

shoutd sends a run of equal replies to one peer as one segmented message,
and shout sends a batch of requests the same way. A kernel or route that
will not segment must cost nothing but speed: each end then falls back to
one datagram per message. An LD_PRELOAD library makes every send that
carries a UDP_SEGMENT control message fail with EIO, as such a kernel does;
every other send goes through. Each test checks every reply byte for byte
and the counters exactly, with and without the library.
"""

import os
import signal
import socket
import time
import unittest

from shoutlib import (SHOUT, TIMEOUT, PortsServer, build_preload_library, encode_frame,
                      fetch_stats, parse_header, preload_env)
from test_ping import run_measure

# Fail (EIO) any sendmsg or sendmmsg whose message carries UDP_SEGMENT.
NO_GSO_SOURCE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int segmented(const struct msghdr *msg)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR((struct msghdr *)msg); cm;
         cm = CMSG_NXTHDR((struct msghdr *)msg, cm))
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_SEGMENT)
            return 1;
    return 0;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (segmented(msg)) {
        errno = EIO;
        return -1;
    }
    return syscall(SYS_sendmsg, fd, msg, flags);
}

int sendmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags)
{
    for (unsigned int i = 0; i < n; i++) {
        if (segmented(&msgs[i].msg_hdr)) {
            if (i == 0) {
                errno = EIO;
                return -1;
            }
            n = i; /* the kernel sends those before the one it refuses */
            break;
        }
    }
    return (int)syscall(SYS_sendmmsg, fd, msgs, n, flags);
}
"""

BURST = 48  # equal datagrams from one socket, read by shoutd in one batch


def wait_state(pid, state, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == state:
                return
        time.sleep(0.005)
    raise AssertionError(f"pid {pid} did not reach state {state}")


class SegmentedRepliesTest(unittest.TestCase):
    """A burst of equal requests from one peer, queued while shoutd is stopped so
    that one batch holds them all: one run of replies, segmented or not."""

    def burst(self, env=None):
        server = PortsServer(env=env)
        self.addCleanup(server.close)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(TIMEOUT)
        before = fetch_stats(server.stats_port)
        payloads = [b"segment me %02d" % i + b"x" * 50 for i in range(BURST)]
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            wait_state(server.proc.pid, "T")
            for i, payload in enumerate(payloads):
                sock.sendto(encode_frame(payload, i), ("127.0.0.1", server.port))
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        replies = {}
        for _ in range(BURST):
            data = sock.recv(1 << 16)
            header = parse_header(data)
            replies[header.id] = data[16:]
        self.assertEqual(sorted(replies), list(range(BURST)))
        for i, payload in enumerate(payloads):
            self.assertEqual(replies[i], payload.upper(), f"reply {i}")
        after = fetch_stats(server.stats_port)
        self.assertEqual(after["udp"]["replies"] - before["udp"]["replies"], BURST)
        self.assertEqual(after["udp"]["send_failed"] - before["udp"]["send_failed"], 0)
        self.assertEqual(after["udp"]["bytes_out"] - before["udp"]["bytes_out"],
                         sum(16 + len(p) for p in payloads))
        self.assertEqual(server.stop(), 0, server.stderr_text())

    def test_a_run_of_replies_to_one_peer_arrives_whole(self):
        self.burst()

    def test_replies_the_kernel_will_not_segment_go_one_by_one(self):
        library = build_preload_library(type(self), NO_GSO_SOURCE)
        self.burst(env=preload_env(library))


class SegmentedRequestsTest(unittest.TestCase):
    """shout load over UDP: exact counts whether or not the kernel segments."""

    def test_load_counts_are_exact_with_and_without_segmentation(self):
        if not SHOUT:
            self.skipTest("SHOUT is not set")
        library = build_preload_library(type(self), NO_GSO_SOURCE)
        server = PortsServer()
        self.addCleanup(server.close)
        for env in (None, preload_env(library)):
            with self.subTest(segmentation="refused" if env else "on"):
                saved = os.environ.get("LD_PRELOAD")
                if env:
                    os.environ["LD_PRELOAD"] = library
                try:
                    _, result = run_measure(self, "load", server.port, "--udp", "--framed",
                                            "--count", "4000", "--warmup", "0",
                                            "--connections", "2", "--pipeline", "32",
                                            "--stats-port", str(server.stats_port))
                finally:
                    if saved is None:
                        os.environ.pop("LD_PRELOAD", None)
                    else:
                        os.environ["LD_PRELOAD"] = saved
                counts = result["results"]["counts"]
                self.assertEqual((counts["sent"], counts["received"]), (4000, 4000))
                for key in ("mismatches", "lost", "duplicates"):
                    self.assertEqual(counts[key], 0, key)
        self.assertEqual(server.stop(), 0, server.stderr_text())


if __name__ == "__main__":
    unittest.main()
