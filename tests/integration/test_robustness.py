"""Hostile and careless clients: shoutd keeps serving everyone else."""

import unittest

from shoutlib import (HEADER_LEN, TYPE_REPLY, ServerTestCase, Writer, connect, encode_frame,
                      parse_header, recv_exact, recv_frame, recv_until_eof, reset_close,
                      send_and_read_some)


class RobustnessTest(ServerTestCase):

    def test_clients_that_connect_and_close_at_once_do_no_harm(self):
        for _ in range(20):
            connect(self.port).close()
        self.assert_serves_text()

    def test_client_that_closes_mid_header_does_no_harm(self):
        with connect(self.port) as sock:
            sock.sendall(encode_frame(b"abc", 1)[:7])
        self.assert_serves_text()

    def test_reset_mid_reply_of_large_text_request_does_no_harm(self):
        data = b"large text request " * ((4 << 20) // 19)
        sock = connect(self.port)
        try:
            got = send_and_read_some(sock, data, 1 << 20)
            self.assertEqual(got, data[:len(got)].upper())
        finally:
            reset_close(sock)
        self.assert_serves_text()

    def test_reset_mid_reply_of_large_framed_requests_does_no_harm(self):
        payload = b"x" * (1 << 20)  # the default --max-frame
        stream = b"".join(encode_frame(payload, i) for i in range(4))
        sock = connect(self.port)
        try:
            got = send_and_read_some(sock, stream, 1 << 16)
            header = parse_header(got)
            self.assertEqual((header.type, header.length, header.id), (TYPE_REPLY, 1 << 20, 0))
            self.assertEqual(got[HEADER_LEN:], b"X" * (len(got) - HEADER_LEN))
        finally:
            reset_close(sock)
        self.assert_serves_text()

    def test_half_close_after_pipelined_requests_gets_every_reply_then_eof(self):
        payloads = [f"request {i} ".encode() * (i % 50) for i in range(200)]
        stream = b"".join(encode_frame(p, 1000 + i) for i, p in enumerate(payloads))
        with connect(self.port) as sock:
            writer = Writer(sock, stream, shut_write=True)
            writer.start()
            for i, payload in enumerate(payloads):
                header, reply = recv_frame(sock)
                self.assertEqual((header.type, header.id, reply),
                                 (TYPE_REPLY, 1000 + i, payload.upper()))
            self.assertEqual(recv_until_eof(sock), b"")
            writer.finish()
        self.assert_serves_text()

    def test_half_close_after_text_gets_all_of_it_then_eof(self):
        data = b"half closed text stream, " * 10000
        with connect(self.port) as sock:
            writer = Writer(sock, data, shut_write=True)
            writer.start()
            self.assertEqual(recv_until_eof(sock), data.upper())
            writer.finish()
        self.assert_serves_text()

    def test_concurrent_clients_are_served_independently(self):
        socks = [connect(self.port) for _ in range(8)]
        try:
            for i, sock in enumerate(socks):
                sock.sendall(f"client {i} says hi".encode())
            for i, sock in reversed(list(enumerate(socks))):
                expected = f"CLIENT {i} SAYS HI".encode()
                self.assertEqual(recv_exact(sock, len(expected)), expected)
        finally:
            for sock in socks:
                sock.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
