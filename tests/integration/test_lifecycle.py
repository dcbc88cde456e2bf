"""Lifecycle: SIGTERM drains (every request read is answered, framed peers get
a shutting-down error frame, then an orderly close), --grace bounds the drain,
and SIGUSR1 dumps the counters while shoutd goes on serving."""

import json
import os
import signal
import time
import unittest

from shoutlib import (HEADER_LEN, TYPE_ERROR, TYPE_REPLY, Server, Writer, connect,
                      encode_frame, parse_error_payload, parse_header, recv_exact,
                      recv_until_eof, wait_for)

ERR_SHUTTING_DOWN = 7
REQUESTS = 2000
PAYLOAD_LEN = 1000   # 2 MB in all: SIGTERM lands while the writer is still writing


def payload_for(i):
    return (b"req %06d " % i + b"abcdefghij" * 100)[:PAYLOAD_LEN]


def split_frames(data):
    """[(Header, payload)] of whole frames, and whatever is left over."""
    frames, at = [], 0
    while len(data) - at >= HEADER_LEN:
        header = parse_header(data[at:at + HEADER_LEN])
        end = at + HEADER_LEN + header.length
        if end > len(data):
            break
        frames.append((header, data[at + HEADER_LEN:end]))
        at = end
    return frames, data[at:]


class LifecycleTest(unittest.TestCase):

    def start_server(self, *args):
        server = Server(*args)
        self.addCleanup(server.close)
        return server

    def test_sigusr1_prints_the_counters_and_shoutd_keeps_serving(self):
        server = self.start_server()
        with connect(server.port) as sock:
            sock.sendall(b"before")
            self.assertEqual(recv_exact(sock, 6), b"BEFORE")
            os.kill(server.proc.pid, signal.SIGUSR1)
            self.assertTrue(wait_for(lambda: "shoutd: counters {" in server.stderr_text()),
                            server.stderr_text())
            line = next(l for l in server.stderr_text().splitlines()
                        if l.startswith("shoutd: counters "))
            counters = json.loads(line[len("shoutd: counters "):])
            self.assertEqual(counters["tcp"]["text_bytes"], 6)
            self.assertEqual(counters["shutdown"], {"clean": 0, "cut": 0})
            sock.sendall(b"after")
            self.assertEqual(recv_exact(sock, 5), b"AFTER")
        self.assertTrue(server.running())
        self.assertEqual(server.stop(), 0, server.stderr_text())

    def test_sigterm_mid_pipeline_answers_every_request_read_then_shutting_down(self):
        server = self.start_server()
        requests = b"".join(encode_frame(payload_for(i), i) for i in range(REQUESTS))
        with connect(server.port) as sock:
            writer = Writer(sock, requests)
            writer.start()
            # Some replies in, so SIGTERM lands in the middle of the load.
            first = recv_exact(sock, 100 * (HEADER_LEN + PAYLOAD_LEN))
            os.kill(server.proc.pid, signal.SIGTERM)
            data = first + recv_until_eof(sock)
            # The server stops reading: the writer may be cut off, that is expected.
            writer.join(10)
        self.assertEqual(server.proc.wait(10), 0, server.stderr_text())
        frames, rest = split_frames(data)
        self.assertEqual(rest, b"", "a partial frame before EOF")
        self.assertGreaterEqual(len(frames), 101)
        *replies, last = frames
        self.assertLessEqual(len(replies), REQUESTS)
        for i, (header, payload) in enumerate(replies):
            self.assertEqual((header.type, header.id), (TYPE_REPLY, i), f"reply {i}")
            self.assertEqual(payload, payload_for(i).upper(), f"reply {i}")
        header, payload = last
        self.assertEqual((header.type, header.id), (TYPE_ERROR, 0))
        self.assertEqual(parse_error_payload(payload)[0], ERR_SHUTTING_DOWN)

    def test_sigterm_with_framed_idle_client_sends_only_the_error_frame(self):
        server = self.start_server()
        with connect(server.port) as sock:
            sock.sendall(encode_frame(b"hi", 5))
            header = parse_header(recv_exact(sock, HEADER_LEN + 2))
            self.assertEqual((header.type, header.id), (TYPE_REPLY, 5))
            os.kill(server.proc.pid, signal.SIGTERM)
            frames, rest = split_frames(recv_until_eof(sock))
        self.assertEqual(rest, b"")
        self.assertEqual(len(frames), 1)
        self.assertEqual((frames[0][0].type, frames[0][0].id), (TYPE_ERROR, 0))
        self.assertEqual(parse_error_payload(frames[0][1])[0], ERR_SHUTTING_DOWN)
        self.assertEqual(server.proc.wait(10), 0, server.stderr_text())

    def test_sigterm_with_text_client_returns_what_was_read_then_eof_no_reset(self):
        server = self.start_server()
        text = b"lower case text, " * 20000  # 340 KB: some of it still in flight
        with connect(server.port) as sock:
            sock.sendall(text[:1000])
            self.assertEqual(recv_exact(sock, 1000), text[:1000].upper())
            sock.sendall(text[1000:])
            os.kill(server.proc.pid, signal.SIGTERM)
            got = recv_until_eof(sock)
        # What shoutd had read is answered; input still in the socket is discarded.
        self.assertEqual(got, text[1000:1000 + len(got)].upper())
        self.assertEqual(server.proc.wait(10), 0, server.stderr_text())
        self.assertIn("every connection closed", server.stderr_text())

    def test_sigterm_stops_accepting(self):
        server = self.start_server()
        with connect(server.port) as held:
            held.sendall(encode_frame(b"x", 1))
            recv_exact(held, HEADER_LEN + 1)
            os.kill(server.proc.pid, signal.SIGTERM)
            recv_until_eof(held)  # the error frame, then EOF: draining has begun
            with self.assertRaises(ConnectionRefusedError):
                connect(server.port).close()
        self.assertEqual(server.proc.wait(10), 0, server.stderr_text())

    def test_grace_cuts_a_client_that_never_reads_and_still_exits_0(self):
        server = self.start_server("--grace", "1")
        sock = connect(server.port)
        self.addCleanup(sock.close)
        sock.setblocking(False)
        chunk = b"never read " * 6000
        deadline = time.monotonic() + 10
        blocked_since = None
        # Fill both directions until sending stays blocked for half a second:
        # shoutd stopped reading because its replies backed up.
        while time.monotonic() < deadline:
            try:
                sock.send(chunk)
                blocked_since = None
            except BlockingIOError:
                blocked_since = blocked_since or time.monotonic()
                if time.monotonic() - blocked_since > 0.5:
                    break
                time.sleep(0.01)
        self.assertIsNotNone(blocked_since)
        started = time.monotonic()
        os.kill(server.proc.pid, signal.SIGTERM)
        self.assertEqual(server.proc.wait(10), 0, server.stderr_text())
        self.assertLess(time.monotonic() - started, 10)
        self.assertIn("cut 1 connection,", server.stderr_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
