"""UDP: one datagram in, at most one datagram out, never longer than the
datagram that caused it."""

import unittest

from shoutlib import (ERR_BAD_VERSION, ERR_LENGTH_MISMATCH, ERR_UNEXPECTED_TYPE, HEADER_LEN,
                      MAGIC, TYPE_ERROR, TYPE_REPLY, VERSION,
                      ServerTestCase, UdpPeerMixin, encode_frame, parse_error_payload, parse_header)


class UdpTest(UdpPeerMixin, ServerTestCase):

    def setUp(self):
        super().setUp()
        self.open_udp_peer(self.port)

    def assert_silent(self, datagram):
        """No answer to datagram within QUIET_TIMEOUT, yet the next good one is."""
        self.assert_no_reply(datagram)
        self.assertEqual(self.exchange(b"after"), b"AFTER")

    def assert_error(self, datagram, frame_id, code):
        reply = self.exchange(datagram)
        self.assertLessEqual(len(reply), len(datagram))
        self.assertGreaterEqual(len(reply), HEADER_LEN + 2)
        header = parse_header(reply)
        self.assertEqual((header.magic, header.version, header.type, header.id),
                         (MAGIC, VERSION, TYPE_ERROR, frame_id))
        self.assertEqual(header.length, len(reply) - HEADER_LEN)
        self.assertEqual(parse_error_payload(reply[HEADER_LEN:])[0], code)
        return reply

    def assert_framed_reply(self, payload, frame_id):
        reply = self.exchange(encode_frame(payload, frame_id))
        header = parse_header(reply)
        self.assertEqual((header.magic, header.version, header.type, header.length, header.id),
                         (MAGIC, VERSION, TYPE_REPLY, len(payload), frame_id))
        self.assertEqual(reply[HEADER_LEN:], payload.upper())

    def test_text_datagram_hello_gets_hello_uppercased(self):
        self.assertEqual(self.exchange(b"hello"), b"HELLO")

    def test_text_datagram_follows_bytes_upper(self):
        data = bytes(range(256))
        self.assertEqual(self.exchange(data), data.upper())

    def test_framed_request_gets_reply_with_same_id(self):
        self.assert_framed_reply(b"hello over udp", 0xFEEDFACECAFEBEEF)

    def test_framed_request_with_empty_payload_gets_empty_reply(self):
        self.assert_framed_reply(b"", 42)

    def test_60000_byte_text_datagram_is_answered_whole(self):
        data = (b"sixty thousand bytes of text, Mixed Case 0123456789. " * 1200)[:60000]
        reply = self.exchange(data)
        self.assertEqual(len(reply), 60000)
        self.assertEqual(reply, data.upper())

    def test_60000_byte_framed_datagram_is_answered_whole(self):
        payload = (b"framed payload ab\xc3\xa9cd " * 3000)[:60000 - HEADER_LEN]
        self.assert_framed_reply(payload, 60000)

    def test_empty_datagram_gets_no_answer(self):
        self.assert_silent(b"")

    def test_length_shorter_than_datagram_gets_error_6(self):
        self.assert_error(encode_frame(b"x" * 100, 61, length=50), 61, ERR_LENGTH_MISMATCH)

    def test_length_longer_than_datagram_gets_error_6(self):
        self.assert_error(encode_frame(b"x" * 100, 62, length=200), 62, ERR_LENGTH_MISMATCH)

    def test_error_reply_is_cut_to_an_18_byte_datagram(self):
        reply = self.assert_error(encode_frame(b"xy", 63, length=0), 63, ERR_LENGTH_MISMATCH)
        self.assertEqual(len(reply), 18)

    def test_bad_version_gets_error_2(self):
        self.assert_error(encode_frame(b"abc", 64, version=0), 64, ERR_BAD_VERSION)

    def test_reply_frame_sent_to_server_gets_error_5(self):
        self.assert_error(encode_frame(b"abc", 65, frame_type=TYPE_REPLY), 65,
                          ERR_UNEXPECTED_TYPE)

    def test_magic_datagram_shorter_than_18_bytes_gets_no_reply(self):
        for datagram in (b"\xf5", b"\xf5\x55\x01\x01",
                         encode_frame(b"a", 66, length=0)):  # 17 bytes
            with self.subTest(length=len(datagram)):
                self.assert_silent(datagram)

    def test_dropped_datagrams_leave_no_reply_ahead_of_the_next_answer(self):
        for datagram in (b"", b"\xf5", encode_frame(b"a", 67, version=2)):
            self.sock.sendto(datagram, self.addr)
        self.assertEqual(self.exchange(b"next"), b"NEXT")


if __name__ == "__main__":
    unittest.main(verbosity=2)
