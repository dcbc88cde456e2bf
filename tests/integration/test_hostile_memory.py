"""The hostile-client suite, part 3: memory (docs/hardening.md).

Slow readers: 16 connections pipeline requests and never read the replies,
with --write-timeout 0 so that backpressure alone bounds what shoutd holds.
Idle connections: 10,000 held at once cost at most 4 KiB of shoutd's RSS each
(the issue's goal; the figure is printed for the docs). Each test asserts (a)
shoutd is up, (b) its peak RSS stayed under a bound, (c) the counters moved,
(d) the good client beside the attack got every reply (see test_hostile.py).
"""

import resource
import time
import unittest

from shoutlib import connect_from
from test_hostile import KIB, MIB, SANITIZED, HostileTestCase, note, proc_status_kib
from test_hostile_timeouts import (SLOW_READER_BYTES, SLOW_READER_EXTRA, fill_until_stuck,
                                    slow_reader_block)


class SlowReaderTest(HostileTestCase):
    server_args = ("--write-timeout", "0")

    READERS = 16
    OFFER = 32 * MIB      # per reader: 512 MiB offered in all
    STALL = 1.5           # a reader that took nothing for this long is stuck
    FILL_LIMIT = 25.0     # the whole fill, at most
    # The issue's bound: 16 readers that were offered 512 MiB may not cost 200 MiB.
    ISSUE_RSS_BOUND = 200 * MIB
    # What backpressure should hold: 16 x ~2.2 MiB (test_hostile_timeouts.py,
    # SLOW_READER_BYTES): 42 MiB with room (ASan 56 MiB).
    TIGHT_RSS_BOUND = READERS * SLOW_READER_BYTES + SLOW_READER_EXTRA

    def test_readers_that_never_read_are_held_by_backpressure(self):
        good = self.start_good()
        before = self.stats()
        self.begin_memory()
        socks = [connect_from(self.port, "127.0.0.4") for _ in range(self.READERS)]
        self.addCleanup(lambda: [s.close() for s in socks])
        started = time.monotonic()
        sent, resets = fill_until_stuck(socks, slow_reader_block(), self.OFFER, self.STALL,
                                        self.FILL_LIMIT)
        self.assertEqual(resets, {}, "a slow reader was reset with --write-timeout 0")
        elapsed = time.monotonic() - started
        held = self.stats()
        growth = self.assert_memory(self.ISSUE_RSS_BOUND,
                                    f"{self.READERS} slow readers offered "
                                    f"{self.READERS * self.OFFER // MIB} MiB")
        note(f"slow readers: took {sum(sent) / MIB:.0f} MiB in {elapsed:.1f} s "
             f"({min(sent) / MIB:.1f} to {max(sent) / MIB:.1f} MiB each) before they stuck; "
             f"shoutd read {self.delta(before, held, 'tcp', 'bytes_in') / MIB:.0f} MiB; "
             f"RSS growth {growth / self.READERS / KIB:.0f} KiB per reader")
        self.assertLess(growth, self.TIGHT_RSS_BOUND)
        # Backpressure, not a cap on the sender: no reader got its 32 MiB in, and
        # shoutd left part of what they sent in its kernel buffers, unread.
        self.assertLess(max(sent), self.OFFER, "a reader was never held back")
        self.assertLess(self.delta(before, held, "tcp", "bytes_in"), sum(sent))
        # Each was answered up to max-output at least (16 replies of 64 KiB).
        self.assertGreaterEqual(self.attack_requests(before, held), self.READERS * 16)
        for key in ("closed", "resets", "timeouts_write", "timeouts_frame", "timeouts_idle"):
            self.assertEqual(self.delta(before, held, "tcp", key), 0, key)
        self.assertTrue(self.server.running(), "shoutd died\n" + self.server.stderr_text())
        # The good client was served all along.
        self.finish_good()
        # Closing with replies unread resets them; shoutd frees them all.
        for sock in socks:
            sock.close()
        after = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "closed") >= self.READERS, "the closes")
        self.assertEqual(self.delta(before, after, "tcp", "closed"), self.READERS)
        self.assert_up_and_serving()
        self.assertEqual(good.replied, good.sent)


IDLE_CONNS = 10000
IDLE_SOURCES = 10          # 127.0.3.1 .. 127.0.3.10, 1000 each
NOFILE_NEEDED = IDLE_CONNS + 100
# The issue's goal: an idle connection costs shoutd at most 4 KiB of RSS (its
# buffers are allocated as bytes arrive, so an idle one holds none). It holds
# under ASan too (redzones and shadow included): measured ~440 bytes (dev) and
# ~600 (asan) per connection.
IDLE_BYTES_PER_CONN_BOUND = 4 * KIB


class IdleConnectionsTest(HostileTestCase):
    # Connections that never send would be closed by the frame timeout (10 s
    # from accept) if the test ran slowly: it and the idle timeout are off.
    server_args = ("--max-conns", "20000", "--max-conns-per-ip", "0",
                   "--frame-timeout", "0", "--idle-timeout", "0")

    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        cls.saved_nofile = (soft, hard)
        if hard != resource.RLIM_INFINITY and hard < NOFILE_NEEDED:
            raise unittest.SkipTest(f"RLIMIT_NOFILE hard limit is {hard}; holding {IDLE_CONNS} "
                                    f"connections needs {NOFILE_NEEDED} descriptors at each end")
        # Our end; shoutd inherits it (and raises its own soft limit to its hard one).
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    @classmethod
    def tearDownClass(cls):
        resource.setrlimit(resource.RLIMIT_NOFILE, cls.saved_nofile)


    def test_ten_thousand_idle_connections_cost_at_most_4_kib_each(self):
        good = self.start_good()
        before = self.stats()
        base = self.begin_memory()
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        started = time.monotonic()
        for n in range(IDLE_CONNS):
            socks.append(connect_from(self.port, f"127.0.3.{n % IDLE_SOURCES + 1}"))
        held = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "accepted") >= IDLE_CONNS,
            f"{IDLE_CONNS} accepts", timeout=30)
        elapsed = time.monotonic() - started
        rss = proc_status_kib(self.pid, "VmRSS")
        per_conn = (rss - base) * KIB / IDLE_CONNS
        note(f"idle connections: {IDLE_CONNS} held, shoutd RSS {base} -> {rss} KiB: "
             f"{per_conn:.0f} bytes per idle connection "
             f"({'asan' if SANITIZED else 'dev'} build; opened in {elapsed:.1f} s)")
        self.assert_memory(IDLE_CONNS * IDLE_BYTES_PER_CONN_BOUND, f"{IDLE_CONNS} idle connections")
        self.assertLessEqual(per_conn, IDLE_BYTES_PER_CONN_BOUND)
        self.assertEqual(self.delta(before, held, "tcp", "accepted"), IDLE_CONNS)
        for key in ("refused_max_conns", "refused_per_ip", "refused_no_fds", "closed"):
            self.assertEqual(self.delta(before, held, "tcp", key), 0, key)
        self.assert_open_count(held, IDLE_CONNS + 2)
        self.finish_good()
        # Let them all go: every one is closed and counted, and shoutd serves on.
        for sock in socks:
            sock.close()
        socks.clear()
        after = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "closed") >= IDLE_CONNS, "the closes",
            timeout=30)
        self.assertEqual(self.delta(before, after, "tcp", "closed"), IDLE_CONNS)
        self.assert_open_count(after, 2)
        self.assert_up_and_serving()
        self.assertEqual(good.replied, good.sent)


if __name__ == "__main__":
    unittest.main(verbosity=2)
