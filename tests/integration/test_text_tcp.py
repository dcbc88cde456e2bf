"""Text mode over TCP: whatever arrives comes back with bytes.upper()."""

import random
import unittest

from shoutlib import ServerTestCase, Writer, connect, recv_exact


class TextTcpTest(ServerTestCase):

    def test_classic_client_gets_hello_uppercased_without_newline(self):
        with connect(self.port) as sock:
            sock.send(b"hello")
            self.assertEqual(sock.recv(1024), b"HELLO")

    def test_lines_on_one_connection_are_answered_one_by_one(self):
        with connect(self.port) as sock:
            for line in (b"hello world\n", b"second line, 2nd!\r\n", b"x\n"):
                sock.sendall(line)
                self.assertEqual(recv_exact(sock, len(line)), line.upper())

    def test_utf8_bytes_pass_through_unchanged(self):
        text = "héllo wörld ß → Ünïcödé 日本語 ǆ ﬃ\n".encode()
        with connect(self.port) as sock:
            sock.sendall(text)
            reply = recv_exact(sock, len(text))
        self.assertEqual(reply, text.upper())
        self.assertEqual(reply.decode(), "HéLLO WöRLD ß → ÜNïCöDé 日本語 ǆ ﬃ\n")

    def test_every_byte_value_follows_bytes_upper(self):
        data = bytes(range(256)) * 2  # starts with 0x00; 0xF5 only mid-stream
        with connect(self.port) as sock:
            sock.sendall(data)
            reply = recv_exact(sock, len(data))
        self.assertEqual(reply, data.upper())
        self.assertEqual(reply[ord("a"):ord("z") + 1], b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        self.assertEqual(reply[0xF5], 0xF5)

    def test_four_mib_stream_read_while_written_arrives_whole(self):
        data = bytearray(random.Random(7680).randbytes(4 << 20))
        data[0] = ord("q")  # the first byte decides text mode
        data = bytes(data)
        with connect(self.port) as sock:
            writer = Writer(sock, data)
            writer.start()
            reply = recv_exact(sock, len(data), timeout=60)
            writer.finish()
        self.assertEqual(len(reply), len(data))
        self.assertEqual(reply, data.upper())
        self.assert_serves_text()


if __name__ == "__main__":
    unittest.main(verbosity=2)
