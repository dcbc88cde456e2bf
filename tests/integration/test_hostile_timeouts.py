"""The hostile-client suite, part 2: deadlines (docs/hardening.md).

Slowloris: hundreds of connections dribbling a frame header one byte at a time
are closed by --frame-timeout (counted from accept, plain close, no error
frame), and so is a connection that sends nothing at all. Slow readers: with
--write-timeout, a client that never reads its replies is reset once the
socket has taken none of them for that long. Each test asserts (a) shoutd is
up, (b) its peak RSS stayed under a bound, (c) the counters moved, (d) the
good client beside the attack got every reply (see test_hostile.py).
"""

import errno
import select
import socket
import statistics
import time
import unittest

from shoutlib import MAGIC, connect_from, encode_frame
from test_hostile import KIB, MIB, HostileTestCase, note, per_build

FRAME_TIMEOUT = 3      # --frame-timeout for the slowloris tests, seconds
CLOSE_SLACK = 7.0      # a bound, not a goal: every close must come within 3 + 7 s
EARLIEST = FRAME_TIMEOUT - 1.0   # whole-second timers may round a deadline down by < 1 s
DRIBBLE_PERIOD = 0.7   # one byte per connection this often: 16 bytes take 11 s > 3 + 7 s


class SlowlorisTest(HostileTestCase):
    server_args = ("--frame-timeout", str(FRAME_TIMEOUT))

    DRIBBLERS = 300
    SILENT = 20
    # Each dribbler holds a stream and a partly filled header: a few hundred
    # bytes. 300 of them fit in 2 MiB many times over; ASan adds shadow,
    # redzones and its 4 MiB quarantine.
    SLOWLORIS_RSS_BOUND = per_build(dev=2 * MIB, asan=8 * MIB)

    def watch_until_closed(self, socks, started, dribble):
        """Poll socks (dribbling one more header byte to each open one every
        DRIBBLE_PERIOD when dribble is given) until every one is closed by the
        server, or FRAME_TIMEOUT + CLOSE_SLACK after the last was opened.
        Returns {index: seconds from its connect to the close it saw}."""
        poller = select.poll()
        index = {sock.fileno(): i for i, sock in enumerate(socks)}
        for fd in index:
            poller.register(fd, select.POLLIN)
        closed = {}
        sent = [1] * len(socks)   # header bytes sent so far (the first with the connect)
        deadline = max(started) + FRAME_TIMEOUT + CLOSE_SLACK + 0.5
        next_dribble = time.monotonic() + DRIBBLE_PERIOD

        def close_seen(i):
            closed[i] = time.monotonic() - started[i]
            poller.unregister(socks[i].fileno())

        while len(closed) < len(socks) and time.monotonic() < deadline:
            for fd, _ in poller.poll(50):
                i = index[fd]
                try:
                    data = socks[i].recv(64, socket.MSG_DONTWAIT)
                except ConnectionResetError:
                    data = b""
                except BlockingIOError:
                    continue
                self.assertEqual(data, b"", f"connection {i} got {data!r}: expected a plain close")
                close_seen(i)
            if dribble is not None and time.monotonic() >= next_dribble:
                next_dribble += DRIBBLE_PERIOD
                for i, sock in enumerate(socks):
                    if i in closed or sent[i] >= len(dribble):
                        continue
                    try:
                        sock.send(dribble[sent[i]:sent[i] + 1], socket.MSG_DONTWAIT)
                        sent[i] += 1
                    except (BrokenPipeError, ConnectionResetError):
                        close_seen(i)
                    except BlockingIOError:
                        pass
        if dribble is not None:
            self.assertLess(max(sent), len(dribble), "a whole header was dribbled")
        return closed

    def run_slow_clients(self, count, dribble, source):
        good = self.start_good()
        before = self.stats()
        self.begin_memory()
        socks, started = [], []
        self.addCleanup(lambda: [s.close() for s in socks])
        for n in range(count):
            started.append(time.monotonic())
            sock = connect_from(self.port, source)
            socks.append(sock)
            if dribble is not None:
                sock.sendall(dribble[:1])
        closed = self.watch_until_closed(socks, started, dribble)
        self.assertTrue(self.server.running(), "shoutd died\n" + self.server.stderr_text())
        after = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "closed") >= count, "the closes")
        what = "dribbling" if dribble else "silent"
        self.assert_memory(self.SLOWLORIS_RSS_BOUND, f"{count} {what} connections")
        self.finish_good()
        self.assert_up_and_serving()
        # Every one was closed by the server, within the bound and not early.
        self.assertEqual(len(closed), count,
                         f"{count - len(closed)} of {count} {what} connections still open "
                         f"{FRAME_TIMEOUT + CLOSE_SLACK} s after they opened")
        times = sorted(closed.values())
        note(f"{what}: {count} connections closed {times[0]:.2f} to {times[-1]:.2f} s after "
             f"connect (median {statistics.median(times):.2f} s), --frame-timeout {FRAME_TIMEOUT}")
        self.assertLessEqual(times[-1], FRAME_TIMEOUT + CLOSE_SLACK)
        self.assertGreaterEqual(times[0], EARLIEST, "closed before --frame-timeout")
        self.assertEqual(self.delta(before, after, "tcp", "timeouts_frame"), count)
        self.assertEqual(self.delta(before, after, "tcp", "closed"), count)
        for key in ("timeouts_idle", "timeouts_write", "resets"):
            self.assertEqual(self.delta(before, after, "tcp", key), 0, key)
        self.assertEqual(sum(after["errors"].values()) - sum(before["errors"].values()), 0,
                         "a frame timeout is a plain close, no error frame")
        self.assertEqual(good.replied, good.sent)

    def test_slowloris_dribbling_headers_are_closed_by_frame_timeout(self):
        header = encode_frame(b"never finished", 0x5105)[:16]
        self.assertEqual(header[:2], MAGIC)
        self.run_slow_clients(self.DRIBBLERS, header, "127.0.0.1")

    def test_connection_that_sends_nothing_is_closed_by_frame_timeout_from_accept(self):
        self.run_slow_clients(self.SILENT, None, "127.0.0.2")


def fill_until_stuck(socks, block, offer, stall, limit):
    """Send `block` over and over to every socket (non-blocking) until each has
    taken `offer` bytes or has accepted nothing for `stall` seconds (its buffers
    are full: the server stopped reading), all within `limit` seconds.
    Returns the bytes each socket took, and {index: OSError} for those the
    server reset meanwhile (a write timeout may beat the stall detection)."""
    view = memoryview(block)
    sent = [0] * len(socks)
    resets = {}
    last_progress = [time.monotonic()] * len(socks)
    done = [False] * len(socks)
    poller = select.poll()
    by_fd = {}
    for i, sock in enumerate(socks):
        sock.setblocking(False)
        poller.register(sock.fileno(), select.POLLOUT)
        by_fd[sock.fileno()] = i
    deadline = time.monotonic() + limit
    while not all(done) and time.monotonic() < deadline:
        for fd, _ in poller.poll(100):
            i = by_fd[fd]
            at = sent[i] % len(block)
            try:
                n = socks[i].send(view[at:at + 256 * KIB])
            except BlockingIOError:
                continue
            except (ConnectionResetError, BrokenPipeError) as exc:
                resets[i] = exc
                done[i] = True
                poller.unregister(fd)
                continue
            sent[i] += n
            last_progress[i] = time.monotonic()
            if sent[i] >= offer:
                done[i] = True
                poller.unregister(fd)
        now = time.monotonic()
        for i, sock in enumerate(socks):
            if not done[i] and now - last_progress[i] >= stall:
                done[i] = True
                poller.unregister(sock.fileno())
    return sent, resets


# What one slow reader may make shoutd hold: its output buffer doubles up to
# 2 MiB (max-output 1 MiB plus the 64 KiB reply that crossed it, rounded up;
# as it slides, every page of it gets touched), one 64 KiB read held back and
# a 64 KiB request being gathered: ~2.2 MiB, 2.5 MiB with the allocator's
# share. ASan: shadow (1/8) and redzones on top, so 3 MiB.
SLOW_READER_BYTES = per_build(dev=5 * MIB // 2, asan=3 * MIB)
# Besides the readers: the good client's buffers; ASan's 4 MiB quarantine
# (freed 1 MiB buffers wait there) and its own bookkeeping.
SLOW_READER_EXTRA = per_build(dev=2 * MIB, asan=8 * MIB)


def slow_reader_block():
    """16 framed requests of 64 KiB of lowercase text: about 1 MiB."""
    payload = (b"slow reader never reads its replies " * 2000)[:64 * KIB]
    return b"".join(encode_frame(payload, 0x51000 + i) for i in range(16))


class WriteTimeoutTest(HostileTestCase):
    WRITE_TIMEOUT = 2
    RESET_SLACK = 8.0   # a bound, not a goal: reset within 2 + 8 s of the stall
    server_args = ("--write-timeout", str(WRITE_TIMEOUT))

    READERS = 4
    OFFER = 32 * MIB
    STALL = 1.0
    FILL_LIMIT = 20.0
    # 12 MiB (ASan 20 MiB): see SLOW_READER_BYTES.
    WRITE_TIMEOUT_RSS_BOUND = READERS * SLOW_READER_BYTES + SLOW_READER_EXTRA

    def test_slow_readers_are_reset_by_write_timeout(self):
        good = self.start_good()
        before = self.stats()
        self.begin_memory()
        socks = [connect_from(self.port, "127.0.0.3") for _ in range(self.READERS)]
        self.addCleanup(lambda: [s.close() for s in socks])
        sent, early = fill_until_stuck(socks, slow_reader_block(), self.OFFER, self.STALL,
                                       self.FILL_LIMIT)
        stuck_at = time.monotonic()
        note(f"write-timeout: {self.READERS} slow readers took "
             f"{', '.join(f'{n / MIB:.1f}' for n in sent)} MiB before they stuck")
        # Now each must be reset: POLLERR/POLLHUP with the RST (unread replies stay queued here).
        poller = select.poll()
        for sock in socks:
            poller.register(sock.fileno(), select.POLLERR | select.POLLHUP)
        reset_after = {}
        deadline = stuck_at + self.WRITE_TIMEOUT + self.RESET_SLACK
        while len(reset_after) < len(socks) and time.monotonic() < deadline:
            for fd, events in poller.poll(100):
                if events & (select.POLLERR | select.POLLHUP):
                    reset_after[fd] = time.monotonic() - stuck_at
                    poller.unregister(fd)
        self.assertEqual(len(reset_after), self.READERS,
                         f"only {len(reset_after)} of {self.READERS} slow readers were reset "
                         f"within {self.WRITE_TIMEOUT} + {self.RESET_SLACK} s")
        for i, sock in enumerate(socks):
            if i in early:
                continue   # the send that met the reset during the fill took its error
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            self.assertIn(err, (errno.ECONNRESET, errno.EPIPE), f"not a reset: SO_ERROR {err}")
        note(f"write-timeout: reset {min(reset_after.values()):.2f} to "
             f"{max(reset_after.values()):.2f} s after the readers stuck "
             f"(--write-timeout {self.WRITE_TIMEOUT})")
        after = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "closed") >= self.READERS, "the resets")
        self.assert_memory(self.WRITE_TIMEOUT_RSS_BOUND, "slow readers until write timeout")
        self.finish_good()
        self.assert_up_and_serving()
        self.assertEqual(self.delta(before, after, "tcp", "timeouts_write"), self.READERS)
        self.assertEqual(self.delta(before, after, "tcp", "closed"), self.READERS)
        self.assertEqual(self.delta(before, after, "tcp", "timeouts_frame"), 0)
        self.assertEqual(self.delta(before, after, "tcp", "timeouts_idle"), 0)
        self.assertGreater(self.attack_requests(before, after), 0)
        self.assertEqual(good.replied, good.sent)


if __name__ == "__main__":
    unittest.main(verbosity=2)
