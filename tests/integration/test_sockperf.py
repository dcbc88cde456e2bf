"""shoutd --sockperf-port: the real sockperf client measures shoutd, and a
Python client speaking sockperf's 14-byte header gets every payload back
uppercased with the header unchanged but for the client bit."""

import re
import shutil
import socket
import struct
import subprocess
import unittest

from shoutlib import (connect, have_ipv6_loopback, recv_exact,
                      recv_until_eof, udp_socket, UdpPeerMixin)
from test_stats import PortsTestCase

SOCKPERF = shutil.which("sockperf") or ""
HEADER = struct.Struct(">QHI")  # sequence number, flags, total length
CLIENT, REPLY_REQUEST, WARMUP = 1, 2, 4
PING = CLIENT | REPLY_REQUEST
RUN_SECONDS = "1"
RUN_TIMEOUT = 60  # a one-second run, with its warm-up and an ASan build, fits well within


def message(seq, flags, payload, length=None):
    if length is None:
        length = HEADER.size + len(payload)
    return HEADER.pack(seq, flags, length) + payload


def expected_reply(msg):
    """The header with the client bit cleared, the payload uppercased."""
    seq, flags, length = HEADER.unpack(msg[:HEADER.size])
    return HEADER.pack(seq, flags & ~CLIENT, length) + msg[HEADER.size:].upper()


class SockperfCase(PortsTestCase):
    server_args = ("--sockperf-port", "0")

    def setUp(self):
        super().setUp()
        self.assertEqual(len(self.server.lines), 3)
        self.assertTrue(self.server.lines[2].startswith("sockperf "))
        self.sp_port = self.server.sockperf_port


@unittest.skipUnless(SOCKPERF, "the sockperf binary is missing (Debian package sockperf)")
class RealSockperfTest(SockperfCase):

    def run_sockperf(self, mode, *args):
        """Run sockperf against shoutd; returns (observations, sockperf stats delta)."""
        before = self.stats()["sockperf"]
        result = subprocess.run(
            [SOCKPERF, mode, "-i", "127.0.0.1", "-p", str(self.sp_port), "-t", RUN_SECONDS, *args],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=RUN_TIMEOUT, check=False)
        output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
        self.assertEqual(result.returncode, 0, output)
        found = re.search(r"Total (\d+) observations", output)
        self.assertIsNotNone(found, output)
        after = self.stats()["sockperf"]
        return int(found.group(1)), {k: after[k] - before[k] for k in after}

    def test_ping_pong(self):
        for args in ((), ("--tcp",), ("--msg-size", "1000"), ("--tcp", "--msg-size", "1000")):
            with self.subTest(args=args):
                observations, delta = self.run_sockperf("ping-pong", *args)
                self.assertGreater(observations, 0)
                self.assertGreater(delta["replies"], 0)
                # Every ping-pong message asks for a reply, and none is malformed.
                self.assertEqual(delta["replies"], delta["messages"])
                self.assertEqual(delta["bad_length"], 0)

    def test_under_load_asks_for_few_replies(self):
        for args in ((), ("--tcp",)):
            with self.subTest(args=args):
                observations, delta = self.run_sockperf("under-load", "--mps", "2000", *args)
                self.assertGreater(observations, 0)
                self.assertGreater(delta["replies"], 0)
                self.assertGreater(delta["messages"], delta["replies"])


class SockperfFormatUdpTest(UdpPeerMixin, SockperfCase):

    def setUp(self):
        super().setUp()
        self.open_udp_peer(self.sp_port)

    def assert_silent(self, datagram):
        """No answer within QUIET_TIMEOUT; the next good message is answered."""
        self.assert_no_reply(datagram)
        good = message(7, PING, b"next")
        self.assertEqual(self.exchange(good), expected_reply(good))

    def test_reply_has_the_header_but_the_client_bit_and_the_payload_uppercased(self):
        msg = message(0x0102030405060708, PING | 0x0100, b"hello sockperf \xc3\xa9 {z}")
        reply = self.exchange(msg)
        self.assertEqual(reply[:8], msg[:8])
        self.assertEqual(reply[8:10], b"\x01\x02")
        self.assertEqual(reply[10:14], msg[10:14])
        self.assertEqual(reply[14:], b"HELLO SOCKPERF \xc3\xa9 {Z}")

    def test_header_only_message_is_answered(self):
        msg = message(1, PING, b"")
        self.assertEqual(self.exchange(msg), expected_reply(msg))

    def test_messages_without_a_reply_request_are_not_answered(self):
        for flags in (CLIENT, REPLY_REQUEST, PING | WARMUP, 0):
            with self.subTest(flags=flags):
                self.assert_silent(message(2, flags, b"quiet"))

    def test_bad_lengths_are_dropped_and_counted(self):
        before = self.stats()["sockperf"]
        bad = (b"short", message(3, PING, b"abc", length=13), message(3, PING, b"abc", length=18),
               message(3, PING, b"abc", length=60000))
        for datagram in bad:
            with self.subTest(datagram=datagram):
                self.assert_silent(datagram)
        after = self.stats()["sockperf"]
        self.assertEqual(after["bad_length"] - before["bad_length"], len(bad))
        self.assertEqual(after["replies"] - before["replies"], len(bad))  # the "next" messages


class SockperfFormatTcpTest(SockperfCase):

    def test_pipelined_messages_are_answered_in_order_and_only_when_asked(self):
        msgs = [message(10, CLIENT, b"no reply wanted"), message(11, PING, b"first"),
                message(12, PING | WARMUP, b"warm-up"), message(13, PING, b"second" * 1000),
                message(14, PING, b"")]
        want = b"".join(expected_reply(m) for m in msgs if m[9] & 7 == PING)
        before = self.stats()["sockperf"]
        with connect(self.sp_port) as sock:
            sock.sendall(b"".join(msgs))
            self.assertEqual(recv_exact(sock, len(want)), want)
            sock.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_eof(sock), b"")
        after = self.stats()["sockperf"]
        self.assertEqual(after["messages"] - before["messages"], 5)
        self.assertEqual(after["replies"] - before["replies"], 3)

    def test_first_byte_f5_is_still_sockperf_not_the_shout_frame(self):
        msg = message(0xF555010100000000, PING, b"magic?")
        with connect(self.sp_port) as sock:
            sock.sendall(msg)
            self.assertEqual(recv_exact(sock, len(msg)), expected_reply(msg))

    def test_bad_length_gets_earlier_replies_then_the_connection_closes(self):
        for length in (5, 14 + (1 << 20) + 1):
            with self.subTest(length=length):
                before = self.stats()["sockperf"]
                good = message(20, PING, b"before the bad one")
                with connect(self.sp_port) as sock:
                    sock.sendall(good + message(21, PING, b"x", length=length) + good)
                    self.assertEqual(recv_until_eof(sock), expected_reply(good))
                after = self.stats()["sockperf"]
                self.assertEqual(after["bad_length"] - before["bad_length"], 1)

    def test_main_port_is_unchanged_beside_it(self):
        self.assert_serves_text()


class SockperfIpv6Test(SockperfCase):
    server_args = ("--sockperf-port", "0", "--listen", "::1")

    def setUp(self):
        if not have_ipv6_loopback():
            self.skipTest("this machine has no IPv6 loopback (::1)")
        super().setUp()

    def test_sockperf_port_follows_the_listen_addresses(self):
        msg = message(30, PING, b"over ipv6")
        with connect(self.sp_port, "::1") as sock:
            sock.sendall(msg)
            self.assertEqual(recv_exact(sock, len(msg)), expected_reply(msg))
        with udp_socket(socket.AF_INET6) as sock:
            sock.sendto(msg, ("::1", self.sp_port))
            self.assertEqual(sock.recv(1 << 16), expected_reply(msg))


if __name__ == "__main__":
    unittest.main(verbosity=2)
