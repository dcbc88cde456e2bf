"""shout send, end to end: against a real shoutd, and against fake servers in
this file that time out, answer wrongly or answer with an error frame."""

import socket
import struct
import subprocess
import threading
import time
import unittest

from shoutlib import (HEADER_LEN, SHOUT, TIMEOUT, TYPE_ERROR, TYPE_REPLY, Server,
                      SharedServerTestCase, encode_frame, free_port, parse_header, recv_exact,
                      run_program, udp_socket)

MODES = ((), ("--udp",), ("--framed",), ("--udp", "--framed"))

EXIT_OK, EXIT_USAGE, EXIT_NETWORK, EXIT_TIMEOUT, EXIT_ERROR_FRAME, EXIT_WRONG_REPLY = \
    0, 2, 3, 4, 5, 6


def shout_send(port, *args, stdin=b""):
    return run_program(SHOUT, "send", "--host", "127.0.0.1", "--port", str(port), *args,
                       stdin=stdin)


class FakeServer(threading.Thread):
    """A loopback TCP or UDP socket whose peer handling is `serve(sock)`:
    for TCP the accepted connection, for UDP the bound socket itself."""

    def __init__(self, sock_type, serve):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, sock_type)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.serve = serve
        if sock_type == socket.SOCK_STREAM:
            self.sock.listen(1)

    def run(self):
        try:
            if self.sock.type == socket.SOCK_STREAM:
                conn, _ = self.sock.accept()
                with conn:
                    conn.settimeout(TIMEOUT)
                    self.serve(conn)
            else:
                self.serve(self.sock)
        except (OSError, AssertionError):
            pass  # the client is gone early; its exit status is what the test checks

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.join(TIMEOUT)
        self.sock.close()


def drain_until_eof(conn):
    """Accepts, reads, never replies."""
    while conn.recv(1 << 16):
        pass


def echo_stream(conn):
    """Text echo without uppercasing."""
    while True:
        data = conn.recv(1 << 16)
        if not data:
            return
        conn.sendall(data)


def echo_frames(conn):
    """Framed replies with the right id but the payload not uppercased."""
    header = parse_header(recv_exact(conn, HEADER_LEN))
    conn.sendall(encode_frame(recv_exact(conn, header.length), header.id,
                              frame_type=TYPE_REPLY))
    drain_until_eof(conn)


def error_frame_for(request):
    header = parse_header(request)
    return encode_frame(struct.pack(">H", 4) + b"payload length over the limit", header.id,
                        frame_type=TYPE_ERROR)


def refuse_frame(conn):
    conn.sendall(error_frame_for(recv_exact(conn, HEADER_LEN)))
    drain_until_eof(conn)


def echo_datagram(sock):
    data, peer = sock.recvfrom(1 << 16)
    sock.sendto(data, peer)


def echo_framed_datagram(sock):
    data, peer = sock.recvfrom(1 << 16)
    sock.sendto(encode_frame(data[HEADER_LEN:], parse_header(data).id,
                             frame_type=TYPE_REPLY), peer)


def refuse_datagram(sock):
    data, peer = sock.recvfrom(1 << 16)
    sock.sendto(error_frame_for(data), peer)


class ShoutAgainstServerTest(SharedServerTestCase):

    def assert_prints(self, result, stdout):
        self.assertEqual((result.returncode, result.stdout), (EXIT_OK, stdout),
                         result.stderr)

    def test_send_hello_prints_hello_uppercased_in_every_mode(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                self.assert_prints(shout_send(self.server.port, *mode, "hello"), b"HELLO\n")

    def test_text_arguments_are_joined_by_spaces(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                self.assert_prints(shout_send(self.server.port, *mode, "hello", "big", "World"),
                                   b"HELLO BIG WORLD\n")

    def test_utf8_argument_keeps_its_non_ascii_bytes(self):
        self.assert_prints(shout_send(self.server.port, "héllo wörld"),
                           "HéLLO WöRLD\n".encode())

    def test_stdin_lines_each_get_a_reply(self):
        for mode in MODES:
            with self.subTest(mode=mode):
                self.assert_prints(shout_send(self.server.port, *mode,
                                              stdin=b"one\ntwo words\nThree!\n"),
                                   b"ONE\nTWO WORDS\nTHREE!\n")


class InteractiveSendTest(unittest.TestCase):
    """shout send reading lines: a user slower than --frame-timeout is still served."""

    def test_first_line_typed_after_the_frame_timeout_is_answered(self):
        server = Server("--frame-timeout", "1", "--no-stats")
        self.addCleanup(server.close)
        for mode in ((), ("--framed",)):
            with self.subTest(mode=mode):
                proc = subprocess.Popen([SHOUT, "send", "--host", "127.0.0.1", "--port",
                                         str(server.port), *mode],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
                # The user thinks for twice the frame deadline before typing.
                time.sleep(2)
                out, err = proc.communicate(b"slow typist\n", timeout=TIMEOUT)
                self.assertEqual((proc.returncode, out), (EXIT_OK, b"SLOW TYPIST\n"), err)
        self.assertEqual(server.stop(), 0)

    def test_no_line_still_reports_an_unreachable_server(self):
        port = free_port(socket.SOCK_STREAM)
        result = shout_send(port, "--timeout", "5", stdin=b"")
        self.assertEqual(result.returncode, EXIT_NETWORK, result.stderr)


class ShoutExitStatusTest(unittest.TestCase):

    def assert_exit(self, result, status):
        self.assertEqual(result.returncode, status,
                         f"stdout {result.stdout!r} stderr {result.stderr!r}")

    def test_connection_refused_exits_3(self):
        for sock_type, mode in ((socket.SOCK_STREAM, ()), (socket.SOCK_DGRAM, ("--udp",))):
            with self.subTest(mode=mode):
                port = free_port(sock_type)
                self.assert_exit(shout_send(port, "--timeout", "5", *mode, "hello"),
                                 EXIT_NETWORK)

    def test_silent_tcp_server_exits_4_after_the_timeout(self):
        for mode in ((), ("--framed",)):
            with self.subTest(mode=mode), FakeServer(socket.SOCK_STREAM, drain_until_eof) as fake:
                started = time.monotonic()
                result = shout_send(fake.port, *mode, "--timeout", "0.5", "hello")
                self.assertGreaterEqual(time.monotonic() - started, 0.45)
                self.assert_exit(result, EXIT_TIMEOUT)

    def test_silent_udp_server_exits_4_after_the_timeout(self):
        with udp_socket() as silent:
            silent.bind(("127.0.0.1", 0))
            started = time.monotonic()
            result = shout_send(silent.getsockname()[1], "--udp", "--timeout", "0.5", "hello")
            self.assertGreaterEqual(time.monotonic() - started, 0.45)
            self.assert_exit(result, EXIT_TIMEOUT)

    def test_reply_not_uppercased_exits_6(self):
        cases = ((socket.SOCK_STREAM, echo_stream, ()),
                 (socket.SOCK_STREAM, echo_frames, ("--framed",)),
                 (socket.SOCK_DGRAM, echo_datagram, ("--udp",)),
                 (socket.SOCK_DGRAM, echo_framed_datagram, ("--udp", "--framed")))
        for sock_type, serve, mode in cases:
            with self.subTest(mode=mode), FakeServer(sock_type, serve) as fake:
                self.assert_exit(shout_send(fake.port, *mode, "--timeout", "5", "hello"),
                                 EXIT_WRONG_REPLY)

    def test_error_frame_exits_5(self):
        cases = ((socket.SOCK_STREAM, refuse_frame, ("--framed",)),
                 (socket.SOCK_DGRAM, refuse_datagram, ("--udp", "--framed")))
        for sock_type, serve, mode in cases:
            with self.subTest(mode=mode), FakeServer(sock_type, serve) as fake:
                self.assert_exit(shout_send(fake.port, *mode, "--timeout", "5", "hello"),
                                 EXIT_ERROR_FRAME)

    def test_bad_usage_exits_2(self):
        for args in (("send", "--no-such-option", "hello"),
                     ("send", "--port", "abc", "hello"),
                     ("send", "--port", "70000", "hello"),
                     ("send", "--timeout", "soon", "hello"),
                     ("no-such-command",),
                     ()):
            with self.subTest(args=args):
                self.assert_exit(run_program(SHOUT, *args), EXIT_USAGE)


if __name__ == "__main__":
    unittest.main(verbosity=2)
