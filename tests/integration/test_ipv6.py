"""IPv6: --listen ::1 serves TCP and UDP on ::1; --listen is repeatable."""

import socket
import unittest

from shoutlib import (HEADER_LEN, TYPE_REPLY, ServerTestCase, connect, encode_frame,
                      have_ipv6_loopback, parse_header, recv_exact, recv_frame, udp_socket)


class Ipv6Base(ServerTestCase):

    def setUp(self):
        if not have_ipv6_loopback():
            self.skipTest("this machine has no IPv6 loopback (::1)")
        super().setUp()

    def assert_udp_answers(self, family, host):
        with udp_socket(family) as sock:
            sock.sendto(b"udp hello", (host, self.port))
            reply, source = sock.recvfrom(1 << 16)
            self.assertEqual(reply, b"UDP HELLO")
            self.assertEqual(source[:2], (host, self.port))


class Ipv6OnlyTest(Ipv6Base):
    server_args = ("--listen", "::1")

    def test_tcp_text_over_ipv6(self):
        with connect(self.port, "::1") as sock:
            self.assertEqual(sock.family, socket.AF_INET6)
            sock.sendall(b"hello over ipv6")
            self.assertEqual(recv_exact(sock, 15), b"HELLO OVER IPV6")

    def test_tcp_framed_over_ipv6(self):
        with connect(self.port, "::1") as sock:
            sock.sendall(encode_frame(b"framed v6", 6))
            header, payload = recv_frame(sock)
        self.assertEqual((header.type, header.id, payload), (TYPE_REPLY, 6, b"FRAMED V6"))

    def test_udp_text_over_ipv6(self):
        self.assert_udp_answers(socket.AF_INET6, "::1")

    def test_udp_framed_over_ipv6(self):
        with udp_socket(socket.AF_INET6) as sock:
            sock.sendto(encode_frame(b"v6 datagram", 66), ("::1", self.port))
            reply = sock.recv(1 << 16)
        header = parse_header(reply)
        self.assertEqual((header.type, header.id, header.length), (TYPE_REPLY, 66, 11))
        self.assertEqual(reply[HEADER_LEN:], b"V6 DATAGRAM")

    def test_ipv4_loopback_is_not_served(self):
        with self.assertRaises(ConnectionRefusedError):
            connect(self.port, "127.0.0.1").close()


class DualListenTest(Ipv6Base):
    server_args = ("--listen", "127.0.0.1", "--listen", "::1")

    def test_both_addresses_serve_tcp_and_udp_on_one_port(self):
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            with self.subTest(host=host):
                self.assert_serves_text(host)
                self.assert_udp_answers(family, host)


if __name__ == "__main__":
    unittest.main(verbosity=2)
