"""SIGTERM and SIGINT stop shoutd with exit status 0, idle or with a client."""

import signal
import unittest

from shoutlib import Server, connect, recv_exact, recv_until_eof

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
