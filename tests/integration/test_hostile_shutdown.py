"""The hostile-client suite, part 5: SIGTERM meets connection resets (issue 9,
point 1; docs/hardening.md, "Lifecycle").

On SIGTERM shoutd drains every connection from inside the signalfd's
callback, in the middle of one epoll_wait batch of up to 128 events. A
connection the peer has reset fails its drain and is freed there, while a
later event of the same batch may still name it: before the loop cleared
deleted sources from the batch in progress (server/loop.h), that was a
heap-use-after-free (ASan) or "double free or corruption" (release).

Two ways in, each repeated, each checked the same way: shoutd exits 0 (under
ASan a use-after-free or a leak makes that fail, and stderr must hold no
sanitizer report), and the well-behaved framed client beside the attack gets
what a drain promises (docs/protocol.md): its reply, then error 7 with id 0,
then EOF.
  - deterministic: shoutd is SIGSTOPped, then gets SIGTERM, then 500 framed
    connections are reset, then SIGCONT. The signalfd became ready first, so
    it leads the batch and every reset connection's event follows it.
  - racing: 500 connections, half with replies queued that they never read,
    are reset while SIGTERM arrives in the middle of the resets and another
    client keeps shoutd busy.
"""

import os
import signal
import socket
import threading
import time
import unittest

from shoutlib import (TIMEOUT, TYPE_ERROR, TYPE_REPLY, connect_from, encode_frame,
                      parse_error_payload, recv_frame, recv_until_eof, reset_close)
from test_hostile import SANITIZED, HostileServer, note

ERR_SHUTTING_DOWN = 7
CONNECTIONS = 500
ATTACK_SOURCE = "127.0.9.1"
GOOD_SOURCE = "127.0.9.250"
BUSY_SOURCE = "127.0.9.251"
STOPPED_REPEATS = 20     # the bar: 20 runs in a row under ASan
RACING_REPEATS = 5
EXIT_TIMEOUT = 20.0      # SIGTERM to exit: the resets close everything well before --grace


def wait_stopped(pid, timeout=TIMEOUT):
    """Until /proc says the process is stopped (state T)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.005)
    raise AssertionError(f"shoutd (pid {pid}) did not stop within {timeout} s")


def framed_connections(port, count, source, payload=b"warm up"):
    """count connections, each made framed by one answered request."""
    socks = []
    try:
        for i in range(count):
            sock = connect_from(port, source)
            socks.append(sock)
            sock.sendall(encode_frame(payload, i))
        for i, sock in enumerate(socks):
            header, reply = recv_frame(sock)
            if (header.type, header.id, reply) != (TYPE_REPLY, i, payload.upper()):
                raise AssertionError(f"connection {i}: {header} {reply!r}")
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def queue_unread_replies(socks, block=64 * 1024, blocks=8):
    """Pipeline requests that are never read, so that replies wait in shoutd."""
    request = encode_frame(b"q" * block, 1)
    for sock in socks:
        sock.setblocking(False)
        for _ in range(blocks):
            try:
                sock.send(request)
            except BlockingIOError:
                break


class Busy(threading.Thread):
    """Keeps shoutd busy with text until the connection ends (or a bound)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = connect_from(port, BUSY_SOURCE)
        self.rounds = 0

    def run(self):
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline and self.rounds < 100000:
                self.sock.sendall(b"busy busy busy " * 64)
                if not self.sock.recv(1 << 16):
                    return
                self.rounds += 1
        except OSError:
            pass  # the drain ended it: that is the point
        finally:
            self.sock.close()  # shoutd lingers until our EOF: give it at once

    def close(self):
        self.sock.close()
        self.join(TIMEOUT)


class ShutdownMeetsResetsTest(unittest.TestCase):
    def start_server(self):
        server = HostileServer("--grace", "10", "--no-stats")
        self.addCleanup(server.close)
        return server

    def good_client(self, port):
        sock = connect_from(port, GOOD_SOURCE)
        self.addCleanup(sock.close)
        sock.sendall(encode_frame(b"before the signal", 42))
        header, reply = recv_frame(sock)
        self.assertEqual((header.type, header.id, reply), (TYPE_REPLY, 42, b"BEFORE THE SIGNAL"))
        return sock

    def assert_drained_cleanly(self, server, good, what):
        """The good client's error 7 and EOF, then exit 0 with no sanitizer report."""
        header, payload = recv_frame(good)
        self.assertEqual((header.type, header.id), (TYPE_ERROR, 0), what)
        self.assertEqual(parse_error_payload(payload)[0], ERR_SHUTTING_DOWN, what)
        self.assertEqual(recv_until_eof(good), b"", what)
        good.close()  # shoutd lingers until our EOF: give it at once
        try:
            status = server.proc.wait(EXIT_TIMEOUT)
        except Exception:
            self.fail(f"{what}: shoutd did not exit\n{server.stderr_text()}")
        log = server.stderr_text()
        self.assertEqual(status, 0, f"{what}: exit status {status}\n{log}")
        for report in ("AddressSanitizer", "runtime error", "double free", "corruption"):
            self.assertNotIn(report, log, what)
        self.assertIn("every connection closed, exiting", log, what)

    def test_resets_piled_up_behind_a_pending_sigterm(self):
        for run in range(STOPPED_REPEATS):
            what = f"run {run + 1} of {STOPPED_REPEATS} (SIGSTOP, SIGTERM, resets, SIGCONT)"
            server = self.start_server()
            good = self.good_client(server.port)
            socks = framed_connections(server.port, CONNECTIONS, ATTACK_SOURCE)
            pid = server.proc.pid
            os.kill(pid, signal.SIGSTOP)
            try:
                wait_stopped(pid)
                os.kill(pid, signal.SIGTERM)
                for sock in socks:
                    reset_close(sock)
            finally:
                os.kill(pid, signal.SIGCONT)
            self.assert_drained_cleanly(server, good, what)
            server.close()
        note(f"SIGTERM behind {CONNECTIONS} resets of a stopped shoutd: "
             f"{STOPPED_REPEATS} clean exits{' under ASan' if SANITIZED else ''}")

    def test_sigterm_in_the_middle_of_resets_under_load(self):
        for run in range(RACING_REPEATS):
            what = f"run {run + 1} of {RACING_REPEATS} (SIGTERM among resets)"
            server = self.start_server()
            good = self.good_client(server.port)
            socks = framed_connections(server.port, CONNECTIONS, ATTACK_SOURCE)
            queue_unread_replies(socks[: CONNECTIONS // 2])
            busy = Busy(server.port)
            busy.start()
            for i, sock in enumerate(socks):
                if i == CONNECTIONS // 2:
                    os.kill(server.proc.pid, signal.SIGTERM)
                try:
                    reset_close(sock)
                except OSError:
                    sock.close()
            self.assert_drained_cleanly(server, good, what)
            busy.close()
            server.close()


if __name__ == "__main__":
    unittest.main()
