"""The hostile-client suite (issue 5, point 7), part 1: the shared harness,
and attacks on the TCP protocol, the connection caps and the stats port.

Every test runs its attack while a well-behaved client works beside it, and
asserts four things:
  (a) shoutd is still up: the process is alive and a fresh connection is served;
  (b) its peak RSS (VmHWM, reset with /proc/PID/clear_refs just before the
      attack) grew over the RSS measured at that moment by less than a stated
      bound (a named constant, per build: ASan's shadow memory and redzones
      make the same allocations cost more);
  (c) the right counters on the stats port moved (exact deltas where the test
      controls every event, lower bounds where the kernel decides);
  (d) the well-behaved client got every reply, byte for byte.

The other parts: test_hostile_timeouts.py (slowloris, silent connections, slow
readers with --write-timeout), test_hostile_memory.py (slow readers under
backpressure, 10,000 idle connections), test_hostile_udp.py (UDP floods and
short datagrams). Timing is only ever a generous upper bound on something that
must happen, never a performance goal; every loop is bounded in count and time.

Under the asan preset CMake sets SHOUT_SANITIZE=1; shoutd then runs with a
small ASan quarantine (ASAN_OPTIONS below) so that freed buffers are reused and
the RSS bounds still mean something. Leak detection stays on: a leak makes
shoutd exit non-zero at SIGTERM, which every test checks.
"""

import os
import random
import re
import resource
import select
import socket
import struct
import sys
import threading
import time
import unittest

from shoutlib import (ERR_BAD_MAGIC, ERR_BAD_TYPE, ERR_BAD_VERSION, ERR_TOO_LARGE,
                      ERR_UNEXPECTED_TYPE, HEADER_LEN, MAGIC, SHOUTD, TIMEOUT, TYPE_ERROR,
                      TYPE_REPLY, TYPE_REQUEST, VERSION, PortsServer, Writer, encode_frame,
                      connect_from, fetch_stats, parse_error_payload, parse_header, recv_exact, recv_frame,
                      recv_until_eof, reset_close, send_and_read_some, wait_for)

KIB = 1024
MIB = 1024 * 1024


def _sanitized():
    flag = os.environ.get("SHOUT_SANITIZE")
    if flag is not None:
        return flag.strip().lower() in ("1", "on", "true", "yes")
    # Run by hand: a binary carrying the ASan runtime is a sanitizer build.
    try:
        with open(SHOUTD, "rb") as binary:
            return b"__asan_init" in binary.read()
    except OSError:
        return False


SANITIZED = bool(SHOUTD) and _sanitized()

# ASan keeps freed memory in a quarantine (256 MiB by default) to catch
# use-after-free; with that, any buffer churn shows up as RSS and no memory
# bound could be asserted. A 4 MiB quarantine still catches a use soon after a
# free; every bound below allows for it. detect_leaks keeps its default (on).
SHOUTD_ASAN_OPTIONS = ("quarantine_size_mb=4:thread_local_quarantine_size_kb=256:"
                       "malloc_context_size=8")


def per_build(dev, asan):
    """A bound for the build under test: the plain one, or ASan's."""
    return asan if SANITIZED else dev


def shoutd_env(extra=None):
    """The environment shoutd runs in: ASan's options under ASan, and extra on top."""
    if not SANITIZED and not extra:
        return None
    env = dict(os.environ)
    env.update(extra or {})
    if not SANITIZED:
        return env
    # Ours first: options already in the environment (given by hand) win.
    env["ASAN_OPTIONS"] = SHOUTD_ASAN_OPTIONS + (":" + env["ASAN_OPTIONS"]
                                                 if env.get("ASAN_OPTIONS") else "")
    return env


def note(text):
    """A measured figure, for the log (ctest -V shows it)."""
    print(f"hostile: {text}", file=sys.stderr, flush=True)


# The suite runs once per mode of shoutd's loop: CMake registers each file a
# second time with SHOUT_HOSTILE_MODE="--busy-poll 1000" (a spinning loop must
# defend exactly as a sleeping one does).
MODE_ARGS = tuple(os.environ.get("SHOUT_HOSTILE_MODE", "").split())


class HostileServer(PortsServer):
    """A shoutd on free ports whose port lines are read (port, `stats N`),
    started with the sanitizer options above, the suite's mode (MODE_ARGS)
    and an optional preexec_fn."""

    def __init__(self, *args, preexec_fn=None, extra_env=None):
        super().__init__(*MODE_ARGS, *args, env=shoutd_env(extra_env), preexec_fn=preexec_fn)


def proc_status_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


GOOD_SOURCE = "127.0.0.250"   # the well-behaved client's own address
GOOD_PAUSE = 0.005            # between its rounds, so that it does not hog a CPU
GOOD_MAX_ROUNDS = 50000       # bounds its loop in count ...
GOOD_MAX_SECONDS = 240.0      # ... and in time


def good_payload(i):
    """Distinct for every i, all 256 byte values over time, sizes 0 to ~3 KiB (and
    a 20 KiB one now and then so replies cross several reads)."""
    size = 20000 if i % 97 == 50 else (i * 37) % 3000
    head = b"good request %d, mixed Case \xc3\xa9 " % i
    body = bytes((i * 131 + k * 7) & 0xFF for k in range(size))
    return head + body


def good_text(i):
    return b"polite text %d: Hello, World! \xe2\x82\xac abc-xyz " % i + b"qwerty" * (i % 40)


class GoodClient(threading.Thread):
    """The well-behaved client beside every attack: one framed and (optionally)
    one text connection from its own source address, opened at construction
    (so, before the attack). Each round sends one framed request with a
    distinct id and payload and one text message, and checks every reply byte
    for byte. It runs until stopped, GOOD_MAX_ROUNDS, or GOOD_MAX_SECONDS."""

    def __init__(self, port, source=GOOD_SOURCE, text=True):
        super().__init__(daemon=True)
        self.framed = connect_from(port, source)
        self.text = None
        try:
            if text:
                self.text = connect_from(port, source)
        except BaseException:
            self.framed.close()
            raise
        self.stopping = threading.Event()
        self.sent = 0          # framed requests sent
        self.replied = 0       # framed replies received and right
        self.text_sent = 0     # text bytes sent
        self.text_replied = 0  # text bytes received back and right
        self.rounds = 0
        self.error = None
        self.lock = threading.Lock()   # held for each round: see HostileTestCase.stats

    def one_round(self, i):
        payload = good_payload(i)
        frame_id = 0x600D000000000000 + i
        self.framed.sendall(encode_frame(payload, frame_id))
        self.sent += 1
        header, reply = recv_frame(self.framed)
        expected = (MAGIC, VERSION, TYPE_REPLY, len(payload), frame_id)
        if tuple(header) != expected:
            raise AssertionError(f"round {i}: reply header {header}, expected {expected}")
        if reply != payload.upper():
            raise AssertionError(f"round {i}: reply payload differs")
        self.replied += 1
        if self.text is not None:
            text = good_text(i)
            self.text.sendall(text)
            self.text_sent += len(text)
            got = recv_exact(self.text, len(text))
            if got != text.upper():
                raise AssertionError(f"round {i}: text reply {got!r}")
            self.text_replied += len(text)

    def run(self):
        deadline = time.monotonic() + GOOD_MAX_SECONDS
        try:
            while (not self.stopping.is_set() and self.rounds < GOOD_MAX_ROUNDS
                   and time.monotonic() < deadline):
                with self.lock:
                    self.one_round(self.rounds)
                    self.rounds += 1
                self.stopping.wait(GOOD_PAUSE)
        except Exception as exc:  # reported by finish()
            self.error = exc

    def wait_rounds(self, more, timeout=TIMEOUT):
        """Block until `more` further rounds have completed (or the client failed)."""
        target = self.rounds + more
        deadline = time.monotonic() + timeout
        while self.rounds < target and self.error is None and self.is_alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"the good client made {self.rounds} of {target} "
                                     f"rounds in {timeout} s")
            time.sleep(0.01)
        if self.error is not None:
            raise AssertionError(f"the good client failed: {self.error!r}")

    def finish(self, test):
        """(d): stop, and assert that every request got its right reply."""
        self.stopping.set()
        self.join(TIMEOUT)
        test.assertFalse(self.is_alive(), "the good client is stuck")
        test.assertIsNone(self.error, f"the good client failed after {self.rounds} rounds: "
                                      f"{self.error!r}")
        test.assertGreater(self.rounds, 0)
        test.assertEqual(self.replied, self.sent)
        test.assertEqual(self.text_replied, self.text_sent)

    def close(self):
        self.stopping.set()
        self.join(TIMEOUT)
        self.framed.close()
        if self.text is not None:
            self.text.close()


class HostileTestCase(unittest.TestCase):
    """One shoutd per test (server_args), a stats reader, the memory probe, and
    the well-behaved client. tearDown checks that shoutd survived and exits 0
    on SIGTERM (a crash, a sanitizer report or a leak fails the test)."""

    server_args = ()
    server_env = None   # variables added to shoutd's environment
    preexec_fn = None

    def setUp(self):
        if not SHOUTD:
            raise unittest.SkipTest("SHOUTD is not set")
        self.server = HostileServer(*self.server_args, preexec_fn=type(self).preexec_fn,
                                    extra_env=self.server_env)
        self.addCleanup(self.server.close)
        self.port = self.server.port
        self.pid = self.server.proc.pid
        self.good = None

    def tearDown(self):
        if self.good is not None:
            self.good.close()
        if self.server.proc.returncode is not None:
            return
        self.assertTrue(self.server.running(),
                        "shoutd died during the test\n" + self.server.stderr_text())
        self.assertEqual(self.server.stop(), 0, self.server.stderr_text())

    # -- the well-behaved client ------------------------------------------------

    def start_good(self, text=True, rounds_first=3):
        self.good = GoodClient(self.port, text=text)
        self.good.start()
        self.good.wait_rounds(rounds_first)
        return self.good

    def finish_good(self, rounds_after=3):
        """Some rounds after the attack too, then (d)."""
        self.good.wait_rounds(rounds_after)
        self.good.finish(self)

    # -- (a) ------------------------------------------------------------------

    def assert_up_and_serving(self, source="127.0.0.251"):
        """(a): alive, and a fresh connection (from a fresh source) is answered,
        framed and text. Retries for a while: refused slots may take a moment to free."""
        self.assertTrue(self.server.running(), "shoutd died\n" + self.server.stderr_text())
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                with connect_from(self.port, source) as sock:
                    sock.sendall(encode_frame(b"fresh connection", 77))
                    header, payload = recv_frame(sock)
                    self.assertEqual((header.type, header.id, payload),
                                     (TYPE_REPLY, 77, b"FRESH CONNECTION"))
                with connect_from(self.port, source) as sock:
                    sock.sendall(b"still alive?")
                    self.assertEqual(recv_exact(sock, 12), b"STILL ALIVE?")
                return
            except (OSError, AssertionError):
                if time.monotonic() > deadline or not self.server.running():
                    raise
                time.sleep(0.1)

    # -- (c) ------------------------------------------------------------------

    def assert_drops_logged(self, counter, total, started):
        """shoutd's log tells of the drops counted under counter (e.g.
        "udp.dropped_rate") with counts that add up to total (the counter
        since start), at most one line per second (droplog.h) since started
        (time.monotonic(), before the first of them)."""
        pattern = re.compile(r"^shoutd: (\d+) .*\(" + re.escape(counter)
                             + r"\); (\d+) since start$", re.M)

        def logged():
            return [(int(a), int(b)) for a, b in pattern.findall(self.server.stderr_text())]
        # The last line may wait up to a second for its reason's interval.
        wait_for(lambda: sum(n for n, _ in logged()) >= total)
        elapsed = time.monotonic() - started
        lines = logged()
        self.assertEqual(sum(n for n, _ in lines), total, self.server.stderr_text())
        self.assertEqual(lines[-1][1], total)
        self.assertLessEqual(len(lines), int(elapsed) + 2, self.server.stderr_text())

    def stats(self):
        """The stats JSON, read between two rounds of the good client (if it
        runs), with the good client's own count of requests answered by then
        under "good_replied": so the attack's share of a counter is exact."""
        good = self.good
        if good is not None and good.is_alive():
            with good.lock:
                now = self.read_stats()
                now["good_replied"] = good.replied
        else:
            now = self.read_stats()
            now["good_replied"] = good.replied if good is not None else 0
        return now

    def read_stats(self):
        return fetch_stats(self.server.stats_port)

    @staticmethod
    def attack_requests(before, after):
        """tcp.requests that moved between two stats, less the good client's."""
        return (after["tcp"]["requests"] - before["tcp"]["requests"]
                - (after["good_replied"] - before["good_replied"]))

    def wait_stats(self, predicate, what, timeout=TIMEOUT):
        """The first stats for which predicate holds; fails after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            now = self.stats()
            if predicate(now):
                return now
            if time.monotonic() > deadline:
                self.fail(f"{what} did not happen within {timeout} s: {now}")
            time.sleep(0.05)

    @staticmethod
    def delta(before, after, section, key):
        return after[section][key] - before[section][key]

    def assert_open_count(self, stats, expected):
        """tcp.open (connections open now), where this shoutd has it."""
        if "open" in stats["tcp"]:
            self.assertEqual(stats["tcp"]["open"], expected, stats["tcp"])
        else:
            note("this shoutd has no tcp.open counter yet; not checked")

    # -- (b) ------------------------------------------------------------------

    def begin_memory(self):
        """The baseline: RSS now, and the peak reset to it."""
        with open(f"/proc/{self.pid}/clear_refs", "w") as clear:
            clear.write("5")
        self.rss_base_kib = proc_status_kib(self.pid, "VmRSS")
        return self.rss_base_kib

    def assert_memory(self, bound, what):
        """(b): peak RSS since begin_memory grew by less than bound bytes; returns the growth."""
        peak = proc_status_kib(self.pid, "VmHWM")
        growth = max(0, peak - self.rss_base_kib) * KIB
        note(f"{self.id().rsplit('.', 1)[-1]}: {what}: peak RSS grew by "
             f"{growth / MIB:.2f} MiB (bound {bound / MIB:.1f} MiB, "
             f"{'asan' if SANITIZED else 'dev'} build, base {self.rss_base_kib} KiB)")
        self.assertLess(growth, bound, f"{what}: RSS grew by {growth} bytes")
        return growth


def model_stream(data, max_frame):
    """What the protocol (docs/protocol.md) says shoutd answers to a framed TCP
    stream `data` followed by EOF: a list of ("reply", id, payload) and at most
    one final ("error", id, code). Headers are checked once all 16 bytes are in:
    magic, version, type 1..3, length against the limit; an incomplete frame at
    EOF is discarded; a whole frame of type 2 or 3 is "unexpected type"."""
    out = []
    at = 0
    while len(data) - at >= HEADER_LEN:
        magic, version, ftype, length, frame_id = struct.unpack(
            ">2sBBIQ", data[at:at + HEADER_LEN])
        code = (ERR_BAD_MAGIC if magic != MAGIC else
                ERR_BAD_VERSION if version != VERSION else
                ERR_BAD_TYPE if not 1 <= ftype <= 3 else
                ERR_TOO_LARGE if length > max_frame else 0)
        if code:
            out.append(("error", frame_id, code))
            return out
        end = at + HEADER_LEN + length
        if end > len(data):
            return out  # cut off by EOF: discarded, not answered
        if ftype != TYPE_REQUEST:
            out.append(("error", frame_id, ERR_UNEXPECTED_TYPE))
            return out
        out.append(("reply", frame_id, data[at + HEADER_LEN:end].upper()))
        at = end
    return out


ERROR_NAMES = {ERR_BAD_MAGIC: "bad_magic", ERR_BAD_VERSION: "bad_version",
               ERR_BAD_TYPE: "bad_type", ERR_TOO_LARGE: "too_large",
               ERR_UNEXPECTED_TYPE: "unexpected_type"}


def garbage_case(rng, max_frame):
    """The magic, then seeded garbage: pure random bytes, or a header whose
    fields are each drawn from values that matter (and random ones), with some
    payload and maybe more garbage after it."""
    shape = rng.randrange(4)
    if shape == 0:
        return MAGIC + rng.randbytes(rng.randrange(0, 48))
    version = rng.choice([1, 1, 1, 0, 2, 255, rng.randrange(256)])
    ftype = rng.choice([1, 1, 1, 2, 3, 0, 4, 255, rng.randrange(256)])
    length = rng.choice([0, rng.randrange(1, 64), rng.randrange(64, 4096), max_frame,
                         max_frame + 1, 0xFFFFFFFF, rng.randrange(1 << 32)])
    frame_id = rng.randrange(1 << 64)
    data = MAGIC + struct.pack(">BBIQ", version, ftype, length, frame_id)
    if length <= max_frame:
        # All of the payload, or part of it (cut off by EOF).
        give = length if rng.random() < 0.7 else rng.randrange(0, length + 1)
        give = min(give, 4096)
        data += bytes(rng.choice(b"abcxyzABC019 \xf5\x55\x00\xff") for _ in range(give))
    if rng.random() < 0.5:
        data += rng.randbytes(rng.randrange(0, 40))
    if rng.random() < 0.3:
        # A valid request after it: answered only if nothing before broke the framing.
        data += encode_frame(b"after garbage", rng.randrange(1 << 64))
    return data


class OversizedClaimTest(HostileTestCase):
    """Length claims of --max-frame + 1 and 4 GiB - 1: error 4, then close,
    and none of the claimed size is ever allocated. --max-frame 64M makes the
    claims big enough for RSS to show them."""

    MAX_FRAME = 64 * MIB
    server_args = ("--max-frame", str(MAX_FRAME))

    # Claims of 64 MiB + 1 and 4 GiB - 1, each followed by 2 MiB of payload
    # bytes: stored, one claim alone would be 64 MiB, its junk 2 MiB. Nothing
    # of a refused frame is stored (the junk is read and dropped), so what may
    # grow is the good client's buffers: well under 4 MiB (measured ~0.1 MiB),
    # plus, under ASan, shadow, redzones and its 4 MiB quarantine.
    OVERSIZE_RSS_BOUND = per_build(dev=4 * MIB, asan=12 * MIB)
    OVERSIZE_JUNK = 2 * MIB
    OVERSIZE_CONNS = 4   # per claim

    def test_oversized_length_claims_get_error_4_and_close_without_allocating(self):
        claims = [self.MAX_FRAME + 1, 0xFFFFFFFF]
        self.start_good()
        before = self.stats()
        self.begin_memory()
        junk = b"j" * self.OVERSIZE_JUNK
        expected_requests = 0
        for n in range(self.OVERSIZE_CONNS):
            for claim in claims:
                frame_id = (claim << 8) + n
                # Two good requests pipelined before the bad header: answered first.
                stream = (encode_frame(b"before %d" % n, 1) + encode_frame(b"", 2)
                          + encode_frame(b"", frame_id, length=claim) + junk)
                expected_requests += 2
                with connect_from(self.port) as sock:
                    writer = Writer(sock, stream)
                    writer.start()
                    for want_id, want in ((1, b"BEFORE %d" % n), (2, b"")):
                        header, payload = recv_frame(sock)
                        self.assertEqual((header.type, header.id, payload),
                                         (TYPE_REPLY, want_id, want))
                    header, payload = recv_frame(sock)
                    self.assertEqual((header.type, header.id), (TYPE_ERROR, frame_id))
                    self.assertEqual(parse_error_payload(payload)[0], ERR_TOO_LARGE)
                    # Then the server closes its side: EOF, nothing more.
                    self.assertEqual(recv_until_eof(sock), b"")
                    sock.shutdown(socket.SHUT_WR)
                    writer.join(TIMEOUT)
        closes = self.OVERSIZE_CONNS * len(claims)
        after = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "closed") >= closes, "the closes")
        self.assert_memory(self.OVERSIZE_RSS_BOUND, "oversized claims")
        self.finish_good()
        final = self.stats()
        self.assert_up_and_serving()
        self.assertEqual(self.delta(before, after, "errors", "too_large"), closes)
        self.assertEqual(self.attack_requests(before, final), expected_requests)
        self.assertEqual(self.delta(before, after, "tcp", "accepted"), closes)
        for name in ("bad_magic", "bad_version", "bad_type", "unexpected_type", "no_memory"):
            self.assertEqual(self.delta(before, final, "errors", name), 0, name)



class ProtocolAttackTest(HostileTestCase):
    """Seeded garbage after the magic, half-close after a pipeline, and RST in
    the middle of large replies, at the default --max-frame (1 MiB) and so the
    default --max-output (1 MiB + one frame)."""

    MAX_FRAME = MIB

    GARBAGE_SEED = 20251125
    GARBAGE_CASES = 500
    # Payloads of at most 4 KiB, one connection at a time: nothing to grow
    # (measured ~0.02 MiB, ASan ~0.3 MiB).
    GARBAGE_RSS_BOUND = per_build(dev=4 * MIB, asan=12 * MIB)

    def test_seeded_garbage_after_the_magic_is_answered_as_the_protocol_says(self):
        rng = random.Random(self.GARBAGE_SEED)
        cases = [garbage_case(rng, self.MAX_FRAME) for _ in range(self.GARBAGE_CASES)]
        self.start_good()
        before = self.stats()
        self.begin_memory()
        want_errors = {name: 0 for name in ERROR_NAMES.values()}
        want_requests = 0
        for n, data in enumerate(cases):
            expected = model_stream(data, self.MAX_FRAME)
            with connect_from(self.port) as sock:
                writer = Writer(sock, data, shut_write=True)
                writer.start()
                got = recv_until_eof(sock)
                writer.finish()
            at = 0
            for kind, frame_id, value in expected:
                self.assertGreaterEqual(len(got) - at, HEADER_LEN,
                                        f"case {n} {data[:32].hex()}: short answer {got!r}")
                header = parse_header(got[at:])
                body = got[at + HEADER_LEN:at + HEADER_LEN + header.length]
                self.assertEqual(len(body), header.length, f"case {n}: cut frame")
                at += HEADER_LEN + header.length
                if kind == "reply":
                    want_requests += 1
                    self.assertEqual((header.type, header.id, body), (TYPE_REPLY, frame_id, value),
                                     f"case {n} {data[:32].hex()}")
                else:
                    want_errors[ERROR_NAMES[value]] += 1
                    self.assertEqual((header.type, header.id), (TYPE_ERROR, frame_id),
                                     f"case {n} {data[:32].hex()}")
                    self.assertEqual(parse_error_payload(body)[0], value,
                                     f"case {n} {data[:32].hex()}")
            self.assertEqual(got[at:], b"", f"case {n} {data[:32].hex()}: more than expected")
        after = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "closed") >= len(cases), "the closes")
        self.assert_memory(self.GARBAGE_RSS_BOUND, "seeded garbage")
        self.finish_good()
        final = self.stats()
        self.assert_up_and_serving()
        note(f"garbage: {len(cases)} cases, errors {want_errors}, {want_requests} replies")
        # The model must have exercised every error it knows, and replies too.
        self.assertTrue(all(want_errors.values()), want_errors)
        self.assertGreater(want_requests, 0)
        for name, count in want_errors.items():
            self.assertEqual(self.delta(before, after, "errors", name), count, name)
        self.assertEqual(self.attack_requests(before, final), want_requests)
        self.assertEqual(self.delta(before, after, "tcp", "accepted"), len(cases))

    PIPELINE = 600
    # Replies pipelined to a reader: at most max-output (1 MiB) and the reply
    # that crossed it are queued, in a buffer that doubles to 2 MiB, plus one
    # 64 KiB read held back and one request (< 40 KiB) being gathered.
    HALF_CLOSE_RSS_BOUND = per_build(dev=6 * MIB, asan=16 * MIB)

    def test_half_close_after_pipelined_requests_gets_every_reply_then_eof(self):
        payloads = [b"pipelined %d " % i + bytes((i + k) & 0xFF for k in range((i * 61) % 40000))
                    for i in range(self.PIPELINE)]
        stream = b"".join(encode_frame(p, 5000 + i) for i, p in enumerate(payloads))
        self.start_good()
        before = self.stats()
        self.begin_memory()
        with connect_from(self.port) as sock:
            writer = Writer(sock, stream, shut_write=True)
            writer.start()
            for i, payload in enumerate(payloads):
                header, reply = recv_frame(sock)
                self.assertEqual((header.type, header.id, header.length), (TYPE_REPLY, 5000 + i,
                                                                          len(payload)))
                self.assertEqual(reply, payload.upper(), f"reply {i}")
            self.assertEqual(recv_until_eof(sock), b"")
            writer.finish()
        after = self.wait_stats(lambda s: self.delta(before, s, "tcp", "closed") >= 1, "the close")
        self.assert_memory(self.HALF_CLOSE_RSS_BOUND, "half-close after a pipeline")
        self.finish_good()
        final = self.stats()
        self.assert_up_and_serving()
        self.assertEqual(self.delta(before, after, "tcp", "closed"), 1)
        self.assertEqual(self.delta(before, after, "tcp", "resets"), 0)
        self.assertEqual(self.attack_requests(before, final), self.PIPELINE)
        self.assertEqual(sum(self.delta(before, final, "errors", n) for n in final["errors"]), 0)

    RESET_CONNS = 5
    RESET_FRAMES = 8         # 1 MiB requests each: 8 MiB of replies asked for
    RESET_READ = 64 * KIB    # read this much, then RST
    # Each resetting connection holds at most a request being gathered (1 MiB),
    # max-output and the reply that crossed it (~2 MiB) and one read: ~3.2 MiB.
    # They come one after another, but if none were freed five would hold
    # 16 MiB: the bound. Nothing grows with the 40 MiB of replies asked for.
    RESET_RSS_BOUND = per_build(dev=16 * MIB, asan=32 * MIB)

    def test_reset_in_the_middle_of_large_replies(self):
        payload = bytes(b"large reply, then a reset! "[k % 27] for k in range(MIB))
        stream = b"".join(encode_frame(payload, 900 + i) for i in range(self.RESET_FRAMES))
        self.start_good()
        before = self.stats()
        self.begin_memory()
        for _ in range(self.RESET_CONNS):
            sock = connect_from(self.port)
            try:
                got = send_and_read_some(sock, stream, self.RESET_READ)
                header = parse_header(got)
                self.assertEqual((header.type, header.id, header.length), (TYPE_REPLY, 900, MIB))
                self.assertEqual(got[HEADER_LEN:], payload.upper()[:len(got) - HEADER_LEN])
            finally:
                reset_close(sock)
        after = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "closed") >= self.RESET_CONNS, "the resets")
        self.assert_memory(self.RESET_RSS_BOUND, "RST mid-reply")
        self.finish_good()
        self.assert_up_and_serving()
        self.assertEqual(self.delta(before, after, "tcp", "closed"), self.RESET_CONNS)
        self.assertEqual(self.delta(before, after, "tcp", "resets"), self.RESET_CONNS)
        # Only the good client's two connections are left open (and at exit,
        # LeakSanitizer checks that their memory was freed).
        self.assert_open_count(self.stats(), 2)


class ConnectionFloodTest(HostileTestCase):
    """A flood past --max-conns-per-ip from one address, then past --max-conns
    from many: refused at once and counted; the good client, connected
    beforehand from its own address, notices nothing."""

    MAX_CONNS = 40
    PER_IP = 10
    server_args = ("--max-conns", str(MAX_CONNS), "--max-conns-per-ip", str(PER_IP))
    FROM_ONE = 30          # from 127.0.0.1: PER_IP kept, the rest refused per IP
    FROM_MANY = 60         # one each from 127.0.1.x
    # 60 connections held: a stream each and nothing else; 2 MiB covers them many
    # times over, ASan's shadow and quarantine included in the larger figure.
    FLOOD_RSS_BOUND = per_build(dev=2 * MIB, asan=8 * MIB)

    def test_flood_past_both_caps_is_refused_and_counted(self):
        good = self.start_good()
        held_by_good = 2
        before = self.stats()
        self.begin_memory()
        started = time.monotonic()
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(self.FROM_ONE):
            socks.append(connect_from(self.port, "127.0.0.1"))
        mid = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "refused_per_ip")
            + self.delta(before, s, "tcp", "accepted") >= self.FROM_ONE, "the per-IP flood")
        for n in range(self.FROM_MANY):
            socks.append(connect_from(self.port, f"127.0.1.{n + 1}"))
        kept_many = self.MAX_CONNS - held_by_good - self.PER_IP
        after = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "refused_max_conns")
            + self.delta(mid, s, "tcp", "accepted") >= self.FROM_MANY, "the global flood")
        # Client side: exactly the refused ones see EOF (or a reset), nothing else.
        refused = self.count_closed(socks, self.FROM_ONE - self.PER_IP + self.FROM_MANY - kept_many)
        self.assert_memory(self.FLOOD_RSS_BOUND, "connection flood")
        self.finish_good()
        self.assertEqual(self.delta(before, mid, "tcp", "refused_per_ip"),
                         self.FROM_ONE - self.PER_IP)
        self.assertEqual(self.delta(before, after, "tcp", "refused_per_ip"),
                         self.FROM_ONE - self.PER_IP)
        self.assertEqual(self.delta(before, after, "tcp", "refused_max_conns"),
                         self.FROM_MANY - kept_many)
        self.assertEqual(self.delta(before, after, "tcp", "accepted"), self.PER_IP + kept_many)
        self.assertEqual(refused, self.FROM_ONE - self.PER_IP + self.FROM_MANY - kept_many)
        self.assert_open_count(after, self.MAX_CONNS)
        self.assert_drops_logged("tcp.refused_per_ip", after["tcp"]["refused_per_ip"], started)
        self.assert_drops_logged("tcp.refused_max_conns", after["tcp"]["refused_max_conns"],
                                 started)
        # (a) once the flood lets go, a fresh client is served.
        for sock in socks:
            sock.close()
        self.assert_up_and_serving()
        self.assertEqual(good.replied, good.sent)

    def count_closed(self, socks, expected):
        """How many of socks the server closed; waits for `expected` of them
        (TIMEOUT at most), then QUIET_TIMEOUT more for any extra."""
        poller = select.poll()
        by_fd = {s.fileno(): s for s in socks}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        closed = set()
        deadline = time.monotonic() + TIMEOUT
        quiet_until = None
        while True:
            now = time.monotonic()
            if len(closed) >= expected and quiet_until is None:
                quiet_until = now + 0.5
            if now > deadline or (quiet_until is not None and now > quiet_until):
                return len(closed)
            for fd, _ in poller.poll(100):
                try:
                    data = by_fd[fd].recv(64, socket.MSG_DONTWAIT)
                except ConnectionResetError:
                    data = b""
                except BlockingIOError:
                    continue
                self.assertEqual(data, b"", "a refused connection got data")
                closed.add(fd)
                poller.unregister(fd)


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NoFdsFloodTest.NOFILE, NoFdsFloodTest.NOFILE))


class NoFdsFloodTest(HostileTestCase):
    """Descriptor exhaustion: shoutd under RLIMIT_NOFILE 64, a flood of 150
    connections held for a second. Past the limit they are accepted with the
    spare descriptor and closed (refused_no_fds); the loop does not spin; the
    good client, connected before, is served throughout and after."""

    NOFILE = 64
    ATTEMPTS = 150
    HOLD = 1.0
    preexec_fn = staticmethod(low_nofile)
    server_args = ("--max-conns", "100000", "--max-conns-per-ip", "0")
    # At most NOFILE connections can be held: a stream each. 2 MiB is many times that.
    NOFDS_RSS_BOUND = per_build(dev=2 * MIB, asan=8 * MIB)

    def test_descriptor_exhaustion_refuses_without_spinning(self):
        good = self.start_good()
        before = self.stats()
        rounds_before = good.rounds
        started = time.monotonic()
        self.begin_memory()
        socks = []
        try:
            for _ in range(self.ATTEMPTS):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.settimeout(TIMEOUT)
                sock.connect(("127.0.0.1", self.port))
            time.sleep(self.HOLD)
            self.assertTrue(self.server.running(), "shoutd died\n" + self.server.stderr_text())
            # The good client is served while the descriptors are exhausted.
            good.wait_rounds(3)
        finally:
            for sock in socks:
                sock.close()
        # The stats port needs a descriptor too: read it once the flood is gone.
        after = self.wait_stats(
            lambda s: self.delta(before, s, "tcp", "accepted")
            + self.delta(before, s, "tcp", "refused_no_fds") >= self.ATTEMPTS
            and self.delta(before, s, "tcp", "closed") >= self.delta(before, s, "tcp", "accepted"),
            "every attempt accounted for and closed")
        elapsed = time.monotonic() - started
        good_rounds = good.rounds - rounds_before
        self.assert_memory(self.NOFDS_RSS_BOUND, "descriptor exhaustion")
        self.finish_good()
        self.assert_up_and_serving()
        refused = self.delta(before, after, "tcp", "refused_no_fds")
        accepted = self.delta(before, after, "tcp", "accepted")
        note(f"EMFILE flood: {accepted} accepted, {refused} refused_no_fds, "
             f"{after['loop_wakeups'] - before['loop_wakeups']} wakeups in {elapsed:.1f} s")
        self.assertGreaterEqual(refused, self.ATTEMPTS - self.NOFILE)
        self.assertEqual(accepted + refused, self.ATTEMPTS)
        self.assertEqual(self.delta(before, after, "tcp", "refused_max_conns"), 0)
        self.assertEqual(self.delta(before, after, "tcp", "refused_per_ip"), 0)
        # Each attempt, answer and close may wake the loop a few times, each good
        # round too, and a timer tick may every second; a spin is millions.
        wakeups = after["loop_wakeups"] - before["loop_wakeups"]
        self.assertLess(wakeups, 10 * self.ATTEMPTS + 10 * good_rounds + 10 * elapsed + 100)


class StatsPortAttackTest(HostileTestCase):
    """The stats port under abuse: a request that never ends (cut off at
    its deadline), one too large (431 before more is read), binary garbage
    (400), and more silent clients than it has slots (each still gets its
    JSON line). Each is counted; the good client notices nothing, and the
    port still answers curl-style requests afterwards."""

    CLIENTS = 24           # three times the port's slots (STATS_CLIENTS)
    DEADLINE_S = 2         # STATS_DEADLINE_MS
    # 24 slots' worth of stats sockets and nothing allocated per client.
    RSS_BOUND = per_build(dev=2 * MIB, asan=8 * MIB)

    def stats_connect(self):
        return connect_from(self.server.stats_port, "127.0.0.1")

    def http_status(self, sock):
        answer = recv_until_eof(sock)
        return answer.split(b"\r\n", 1)[0]

    def test_slow_huge_garbage_and_crowds_are_cut_off_and_counted(self):
        good = self.start_good()
        before = self.read_stats()
        self.begin_memory()
        slow = self.stats_connect()
        self.addCleanup(slow.close)
        slow.sendall(b"GET /metr")
        started = time.monotonic()
        with self.stats_connect() as huge:
            huge.sendall(b"GET /metrics HTTP/1.1\r\nX-Padding: " + b"x" * 4000)
            self.assertEqual(self.http_status(huge),
                             b"HTTP/1.1 431 Request Header Fields Too Large")
        with self.stats_connect() as garbage:
            garbage.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            self.assertEqual(self.http_status(garbage), b"HTTP/1.1 400 Bad Request")
        # The slow one: closed by the server within its deadline, never answered 200.
        slow.settimeout(TIMEOUT)
        self.assertNotIn(b"200 OK", recv_until_eof(slow))
        self.assertGreaterEqual(time.monotonic() - started, self.DEADLINE_S - 0.1)
        crowd = [self.stats_connect() for _ in range(self.CLIENTS)]
        self.addCleanup(lambda: [s.close() for s in crowd])
        for sock in crowd:
            data = recv_until_eof(sock)
            self.assertTrue(data.startswith(b"{") and data.endswith(b"}\n"), data[:80])
        self.assert_memory(self.RSS_BOUND, "stats port abuse")
        after = self.read_stats()
        self.assertEqual(self.delta(before, after, "stats_port", "cut_slow"), 1)
        self.assertEqual(self.delta(before, after, "stats_port", "cut_large"), 1)
        self.assertEqual(self.delta(before, after, "stats_port", "bad_requests"), 1)
        # before's own read is counted once it was answered; after's is not yet.
        self.assertEqual(self.delta(before, after, "stats_port", "answered_line"),
                         self.CLIENTS + 1)
        self.finish_good()
        self.assert_up_and_serving()
        self.assertEqual(good.replied, good.sent)


if __name__ == "__main__":
    unittest.main(verbosity=2)
