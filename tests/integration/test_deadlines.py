"""shoutd's deadlines: --frame-timeout, --idle-timeout, --write-timeout.

Each deadline must close the connection it watches, be counted, and leave
alone a client that keeps making the progress it asks for. Times here are
bounds on things that must happen (never before the timeout, and not long
after it), not speed goals: the slack is generous because the machine is
shared.
"""

import socket
import time
import unittest

from shoutlib import TIMEOUT, Writer, connect, encode_frame, recv_exact, recv_frame
from test_stats import PortsTestCase

TIMEOUT_S = 1
# A deadline fires no earlier than this after the last progress (the loop
# reads the clock once per wakeup, so it may be a few ms early)...
EARLIEST_S = TIMEOUT_S - 0.1
# ...and, on a busy machine, within this: the loop wakes for the soonest deadline.
LATEST_S = TIMEOUT_S + 4.0


def wait_for_close(sock):
    """Seconds until the server closes sock (EOF or reset), reading whatever comes."""
    start = time.monotonic()
    sock.settimeout(LATEST_S + 1)
    try:
        while sock.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - start


class StatsServerTestCase(PortsTestCase):

    def tcp(self):
        return self.stats()["tcp"]


class FrameTimeoutTest(StatsServerTestCase):
    server_args = ("--frame-timeout", str(TIMEOUT_S), "--idle-timeout", "0",
                   "--sockperf-port", "0")

    def test_sockperf_port_connection_that_sends_nothing_is_closed(self):
        with connect(self.server.sockperf_port) as sock:
            elapsed = wait_for_close(sock)
        self.assertGreaterEqual(elapsed, EARLIEST_S)
        self.assertLess(elapsed, LATEST_S)
        self.assertEqual(self.tcp()["timeouts_frame"], 1)

    def test_connection_that_sends_nothing_is_closed_counted_from_accept(self):
        with connect(self.port) as sock:
            elapsed = wait_for_close(sock)
        self.assertGreaterEqual(elapsed, EARLIEST_S)
        self.assertLess(elapsed, LATEST_S)
        self.assertEqual(self.tcp()["timeouts_frame"], 1)

    def test_dribbling_a_header_does_not_restart_the_deadline(self):
        header = encode_frame(b"x" * 8, 7)[:16]
        with connect(self.port) as sock:
            start = time.monotonic()
            sent = 0
            closed = False
            # One byte every 0.2 s: the 16-byte header would need 3.2 s, three deadlines.
            while sent < len(header) and time.monotonic() - start < LATEST_S:
                try:
                    sock.sendall(header[sent:sent + 1])
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                sent += 1
                sock.settimeout(0.2)
                try:
                    if sock.recv(1) == b"":
                        closed = True
                        break
                except socket.timeout:
                    pass
            elapsed = time.monotonic() - start
        self.assertTrue(closed, f"still open after {sent} bytes and {elapsed:.1f} s")
        self.assertLess(sent, len(header))
        self.assertGreaterEqual(elapsed, EARLIEST_S)
        self.assertLess(elapsed, LATEST_S)
        self.assertEqual(self.tcp()["timeouts_frame"], 1)

    def test_frames_completing_keep_a_pipelining_client_open(self):
        # Always mid-frame between sends, but a frame completes every 0.25 s:
        # this client lasts three deadlines and gets every reply.
        with connect(self.port) as sock:
            frames = [encode_frame(b"frame %d" % i, i) for i in range(13)]
            sock.sendall(frames[0][:5])
            for i in range(12):
                time.sleep(0.25)
                sock.sendall(frames[i][5:] + frames[i + 1][:5])
                header, payload = recv_frame(sock)
                self.assertEqual((header.id, payload), (i, b"FRAME %d" % i))
        self.assertEqual(self.tcp()["timeouts_frame"], 0)

    def test_partial_frame_closed_and_other_clients_served(self):
        with connect(self.port) as stalled, connect(self.port) as good:
            stalled.sendall(encode_frame(b"never finished", 1)[:20])
            good.sendall(b"hello")
            self.assertEqual(recv_exact(good, 5), b"HELLO")
            self.assertLess(wait_for_close(stalled), LATEST_S)
            good.sendall(b"again")
            self.assertEqual(recv_exact(good, 5), b"AGAIN")
        self.assertEqual(self.tcp()["timeouts_frame"], 1)


class IdleTimeoutTest(StatsServerTestCase):
    server_args = ("--idle-timeout", str(TIMEOUT_S), "--frame-timeout", "0")

    def test_quiet_text_connection_is_closed_and_counted(self):
        with connect(self.port) as sock:
            sock.sendall(b"hi")
            self.assertEqual(recv_exact(sock, 2), b"HI")
            elapsed = wait_for_close(sock)
        self.assertGreaterEqual(elapsed, EARLIEST_S)
        self.assertLess(elapsed, LATEST_S)
        tcp = self.tcp()
        self.assertEqual((tcp["timeouts_idle"], tcp["timeouts_frame"]), (1, 0))

    def test_quiet_framed_connection_between_frames_is_closed(self):
        with connect(self.port) as sock:
            sock.sendall(encode_frame(b"one", 1))
            self.assertEqual(recv_frame(sock)[1], b"ONE")
            self.assertLess(wait_for_close(sock), LATEST_S)
        self.assertEqual(self.tcp()["timeouts_idle"], 1)

    def test_a_client_that_keeps_talking_stays(self):
        with connect(self.port) as sock:
            for i in range(12):  # 3 s, three deadlines
                time.sleep(0.25)
                sock.sendall(b"tick %02d" % i)
                self.assertEqual(recv_exact(sock, 7), b"TICK %02d" % i)
        self.assertEqual(self.tcp()["timeouts_idle"], 0)


class FrameTimeoutOffTest(StatsServerTestCase):
    server_args = ("--frame-timeout", "0", "--idle-timeout", str(TIMEOUT_S))

    def test_idle_deadline_watches_what_the_frame_deadline_would(self):
        # With the frame deadline off, a silent connection and a stalled
        # frame still end: the idle deadline takes over (any byte restarts it).
        with connect(self.port) as silent, connect(self.port) as partial:
            partial.sendall(b"\xf5\x55\x01")
            for sock in (silent, partial):
                self.assertLess(wait_for_close(sock), LATEST_S)
        tcp = self.tcp()
        self.assertEqual((tcp["timeouts_idle"], tcp["timeouts_frame"]), (2, 0))


class TimeoutsOffTest(StatsServerTestCase):
    server_args = ("--idle-timeout", "0", "--frame-timeout", "0", "--write-timeout", "0")

    def test_zero_turns_every_deadline_off(self):
        with connect(self.port) as silent, connect(self.port) as partial:
            partial.sendall(b"\xf5\x55\x01")
            for sock in (silent, partial):
                sock.settimeout(2.5 * TIMEOUT_S)
                with self.assertRaises(socket.timeout):
                    sock.recv(1)
            tcp = self.tcp()
            self.assertEqual(tcp["open"], 2)
        self.assertEqual((tcp["timeouts_frame"], tcp["timeouts_idle"]), (0, 0))


# Requests whose replies the slow reader never takes: far more than the
# socket buffers and --max-output hold, so that replies stay queued.
SLOW_FRAME = encode_frame(b"r" * 65536, 1)


def fill(sock, limit_s):
    """Send SLOW_FRAME copies without blocking until the socket stays full (or the
    server resets it); bytes sent. A short send is finished before the next frame."""
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + limit_s
    idle_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - idle_since < 0.3:
        try:
            sent += sock.send(SLOW_FRAME[sent % len(SLOW_FRAME):])
            idle_since = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
        except ConnectionResetError:
            break
    return sent


class WriteTimeoutTest(StatsServerTestCase):
    server_args = ("--write-timeout", str(TIMEOUT_S), "--max-output", "64K")

    def test_client_that_never_reads_is_reset_and_counted(self):
        sock = connect(self.port)
        with sock:
            self.assertGreater(fill(sock, 5.0), 0)
            start = time.monotonic()
            closed = False
            while time.monotonic() - start < LATEST_S and not closed:
                tcp = self.tcp()
                closed = tcp["timeouts_write"] == 1 and tcp["open"] == 0
                time.sleep(0.1)
            self.assertTrue(closed, tcp)
            # The reset reaches the client: its replies are gone, not delivered late.
            sock.setblocking(True)
            sock.settimeout(TIMEOUT)
            with self.assertRaises((ConnectionResetError, BrokenPipeError)):
                while sock.recv(1 << 20):
                    pass
                sock.sendall(SLOW_FRAME)
        self.assertEqual(self.tcp()["resets"], 0, "counted as a timeout, not a peer's reset")

    def test_client_that_reads_slowly_but_steadily_stays(self):
        # 6 MiB of replies to a client with a small receive buffer: more than
        # the server's socket can hold, so its replies wait on the client.
        # The client takes 1 MiB, then pauses for 0.6 s (less than the
        # deadline), six times: 3.6 s in all, three deadlines, never dropped.
        count = 96
        payload = bytes(range(256)) * 256  # 64 KiB
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(TIMEOUT)
            sock.connect(("127.0.0.1", self.port))
            writer = Writer(sock, b"".join(encode_frame(payload, i) for i in range(count)))
            writer.start()
            for i in range(count):
                if i % 16 == 0:
                    time.sleep(0.6 * TIMEOUT_S)
                header, body = recv_frame(sock)
                self.assertEqual((header.id, body), (i, payload.upper()))
            writer.finish()
        self.assertEqual(self.tcp()["timeouts_write"], 0)

class MaxOutputTest(StatsServerTestCase):
    server_args = ("--max-output", "1K", "--write-timeout", "0")

    def test_replies_larger_than_max_output_still_arrive_whole(self):
        # --max-output is where reading stops, not a cap on a reply's size.
        payload = bytes(range(256)) * 64  # 16 KiB
        with connect(self.port) as sock:
            sock.sendall(b"".join(encode_frame(payload, i) for i in range(8)))
            for i in range(8):
                header, body = recv_frame(sock)
                self.assertEqual((header.id, body), (i, payload.upper()))


class BacklogTest(unittest.TestCase):

    def test_backlog_reaches_listen(self):
        # The listen backlog shows as the send queue of a listening socket in
        # sock_diag (ss's Send-Q); /proc does not show it, so read it with ss.
        import shutil
        import subprocess
        from shoutlib import Server
        if not shutil.which("ss"):
            self.skipTest("ss (iproute2) is not installed")
        server = Server("--backlog", "37", "--no-stats")
        self.addCleanup(server.close)
        out = subprocess.run(["ss", "-Hltn", f"sport = :{server.port}"], capture_output=True,
                             text=True, timeout=TIMEOUT, check=True).stdout.split()
        # State Recv-Q Send-Q Local Peer
        self.assertEqual(out[0], "LISTEN")
        self.assertEqual(int(out[2]), 37)
        self.assertEqual(server.stop(), 0)

    def test_stats_port_gets_the_same_backlog(self):
        # It was 64 whatever --backlog said: a local connect flood overflowed it.
        import shutil
        import subprocess
        from shoutlib import PortsServer
        if not shutil.which("ss"):
            self.skipTest("ss (iproute2) is not installed")
        server = PortsServer("--backlog", "300")
        self.addCleanup(server.close)
        for port in (server.port, server.stats_port):
            out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                                 text=True, timeout=TIMEOUT, check=True).stdout.split()
            self.assertEqual(out[0], "LISTEN")
            self.assertEqual(int(out[2]), 300, f"port {port}")
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
