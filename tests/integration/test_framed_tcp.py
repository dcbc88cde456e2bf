"""Framed mode over TCP: replies in order with ids; bad headers get an error
frame carrying the offending id, then the server closes the connection."""

import socket
import unittest

from shoutlib import (ERR_BAD_MAGIC, ERR_BAD_TYPE, ERR_BAD_VERSION, ERR_TOO_LARGE,
                      ERR_UNEXPECTED_TYPE, HEADER_LEN, MAGIC, QUIET_TIMEOUT, TYPE_ERROR,
                      TYPE_REPLY, VERSION, ServerTestCase, Writer, connect,
                      encode_frame, recv_frame)

MAX_FRAME = 1024


def pipelined_payload(i):
    """Request i's payload: every 10th empty, the rest 1..2999 bytes."""
    if i % 10 == 0:
        return b""
    size = (i * 389) % 2999 + 1
    word = f"req {i} mixed Case ümlaut; ".encode()
    return (word * (size // len(word) + 1))[:size]


class FramedTcpTest(ServerTestCase):

    def assert_reply(self, sock, frame_id, payload):
        header, reply = recv_frame(sock)
        self.assertEqual((header.magic, header.version, header.type, header.id),
                         (MAGIC, VERSION, TYPE_REPLY, frame_id))
        self.assertEqual(reply, payload.upper())

    def test_request_gets_uppercased_reply_with_same_id(self):
        with connect(self.port) as sock:
            sock.sendall(encode_frame(b"hello, Framed world", 0x0123456789ABCDEF))
            self.assert_reply(sock, 0x0123456789ABCDEF, b"hello, Framed world")
            sock.sendall(encode_frame(b"", 0))
            self.assert_reply(sock, 0, b"")
            sock.sendall(encode_frame(b"\xf5\x55abc", 2**64 - 1))
            self.assert_reply(sock, 2**64 - 1, b"\xf5\x55abc")

    def test_thousand_pipelined_requests_are_answered_in_order(self):
        ids = [(i * 7919 + 13) << 20 | i for i in range(1000)]
        payloads = [pipelined_payload(i) for i in range(1000)]
        stream = b"".join(encode_frame(p, i) for i, p in zip(ids, payloads))
        with connect(self.port) as sock:
            writer = Writer(sock, stream)
            writer.start()
            for frame_id, payload in zip(ids, payloads):
                self.assert_reply(sock, frame_id, payload)
            writer.finish()

    def test_request_split_across_writes_is_reassembled(self):
        frame = encode_frame(b"split payload", 77)
        with connect(self.port) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for piece in (frame[:1], frame[1:9], frame[9:16], frame[16:20], frame[20:]):
                sock.sendall(piece)
            self.assert_reply(sock, 77, b"split payload")


class FramedTcpErrorTest(ServerTestCase):
    server_args = ("--max-frame", str(MAX_FRAME))

    def check_error(self, data, frame_id, code):
        with connect(self.port) as sock:
            sock.sendall(data)
            self.assert_error_then_eof(sock, frame_id, code)
        self.assert_serves_text()

    def test_payload_of_exactly_max_frame_is_answered(self):
        payload = b"m" * MAX_FRAME
        with connect(self.port) as sock:
            sock.sendall(encode_frame(payload, 5))
            header, reply = recv_frame(sock)
        self.assertEqual((header.type, header.id, reply), (TYPE_REPLY, 5, payload.upper()))

    def test_bad_version_gets_error_2(self):
        self.check_error(encode_frame(b"", 0x1111, version=2), 0x1111, ERR_BAD_VERSION)

    def test_bad_type_gets_error_3(self):
        for frame_type in (0, 4, 255):
            with self.subTest(frame_type=frame_type):
                self.check_error(encode_frame(b"", 0x2200 + frame_type, frame_type=frame_type),
                                 0x2200 + frame_type, ERR_BAD_TYPE)

    def test_length_one_over_max_frame_gets_error_4(self):
        self.check_error(encode_frame(b"", 0x3333, length=MAX_FRAME + 1), 0x3333, ERR_TOO_LARGE)

    def test_oversized_header_followed_by_its_payload_gets_error_4(self):
        self.check_error(encode_frame(b"z" * (MAX_FRAME + 1), 0x3334), 0x3334, ERR_TOO_LARGE)

    def test_length_0xffffffff_gets_error_4(self):
        self.check_error(encode_frame(b"", 0x4444, length=0xFFFFFFFF), 0x4444, ERR_TOO_LARGE)

    def test_bad_second_magic_byte_gets_error_1(self):
        self.check_error(encode_frame(b"", 0x5555, magic=b"\xf5\x00"), 0x5555, ERR_BAD_MAGIC)

    def test_reply_or_error_frame_sent_to_server_gets_error_5(self):
        for frame_type in (TYPE_REPLY, TYPE_ERROR):
            with self.subTest(frame_type=frame_type):
                self.check_error(encode_frame(b"abc", 0x6600 + frame_type, frame_type=frame_type),
                                 0x6600 + frame_type, ERR_UNEXPECTED_TYPE)

    def test_bad_magic_after_good_frames_gets_error_1(self):
        junk = b"hello, not a frame header"
        with connect(self.port) as sock:
            sock.sendall(encode_frame(b"ok", 1) + junk)
            self.assertEqual(recv_frame(sock)[1], b"OK")
            self.assert_error_then_eof(sock, int.from_bytes(junk[8:16], "big"), ERR_BAD_MAGIC)

    def test_valid_requests_before_a_bad_one_are_answered_first(self):
        stream = (encode_frame(b"first", 10) + encode_frame(b"", 11)
                  + encode_frame(b"third", 12) + encode_frame(b"bad", 13, version=9)
                  + encode_frame(b"never answered", 14))
        with connect(self.port) as sock:
            sock.sendall(stream)
            for frame_id, payload in ((10, b"FIRST"), (11, b""), (12, b"THIRD")):
                header, reply = recv_frame(sock)
                self.assertEqual((header.type, header.id, reply), (TYPE_REPLY, frame_id, payload))
            self.assert_error_then_eof(sock, 13, ERR_BAD_VERSION)

    def test_header_is_judged_only_once_all_sixteen_bytes_arrived(self):
        frame = encode_frame(b"", 0xABCDEF0123456789, version=7)
        with connect(self.port) as sock:
            sock.sendall(frame[:HEADER_LEN - 1])
            sock.settimeout(QUIET_TIMEOUT)
            with self.assertRaises(socket.timeout, msg="answered a 15-byte header"):
                sock.recv(1)
            sock.sendall(frame[HEADER_LEN - 1:])
            self.assert_error_then_eof(sock, 0xABCDEF0123456789, ERR_BAD_VERSION)


if __name__ == "__main__":
    unittest.main(verbosity=2)
