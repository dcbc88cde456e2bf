"""SIGTERM and SIGINT stop shoutd with exit status 0, idle or with a client;
SIGHUP is logged once and shoutd keeps serving."""

import os
import signal
import unittest

from shoutlib import Server, connect, recv_exact, recv_until_eof, wait_for

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalTest(unittest.TestCase):

    def start_server(self):
        server = Server()
        self.addCleanup(server.close)
        return server

    def test_signal_on_idle_server_exits_0(self):
        for sig in SIGNALS:
            with self.subTest(signal=sig.name):
                server = self.start_server()
                self.assertEqual(server.stop(sig), 0, server.stderr_text())

    def test_signal_with_connected_client_exits_0_and_client_sees_eof(self):
        for sig in SIGNALS:
            with self.subTest(signal=sig.name):
                server = self.start_server()
                with connect(server.port) as sock:
                    sock.sendall(b"connected")
                    self.assertEqual(recv_exact(sock, 9), b"CONNECTED")
                    self.assertEqual(server.stop(sig), 0, server.stderr_text())
                    self.assertEqual(recv_until_eof(sock), b"")

    def test_sighup_is_logged_once_and_shoutd_keeps_serving(self):
        server = self.start_server()
        with connect(server.port) as sock:
            sock.sendall(b"before")
            self.assertEqual(recv_exact(sock, 6), b"BEFORE")
            os.kill(server.proc.pid, signal.SIGHUP)
            line = "shoutd: caught SIGHUP, nothing to reload"
            self.assertTrue(wait_for(lambda: line in server.stderr_text()),
                            server.stderr_text())
            self.assertTrue(server.running(), server.stderr_text())
            # The connection that was open survives, and new ones are accepted.
            sock.sendall(b"after")
            self.assertEqual(recv_exact(sock, 5), b"AFTER")
        with connect(server.port) as sock:
            sock.sendall(b"new")
            self.assertEqual(recv_exact(sock, 3), b"NEW")
        self.assertEqual(server.stderr_text().count(line), 1, server.stderr_text())
        # SIGHUP did not start a drain: SIGTERM still does, and exits 0.
        self.assertNotIn("finishing connections", server.stderr_text())
        self.assertEqual(server.stop(signal.SIGTERM), 0, server.stderr_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
