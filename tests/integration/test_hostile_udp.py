"""The hostile-client suite, part 4: UDP (docs/protocol.md, "No amplification
over UDP"; docs/hardening.md, UDP).

A flood from one source is cut to that source's reply budget while a
neighbour on another loopback address gets every reply; short and malformed
datagrams are answered exactly as the protocol says, and never with more
bytes than they carried. Each test asserts (a) shoutd is up, (b) its peak RSS
stayed under a bound, (c) the counters moved, (d) the well-behaved client
got every reply (see test_hostile.py).
"""

import os
import random
import struct
import subprocess
import time
import unittest

from shoutlib import (SHOUTD, TIMEOUT, ERR_BAD_MAGIC, ERR_BAD_TYPE, ERR_BAD_VERSION, ERR_LENGTH_MISMATCH,
                      ERR_TOO_LARGE, ERR_UNEXPECTED_TYPE, HEADER_LEN, MAGIC, TYPE_ERROR,
                      TYPE_REPLY, TYPE_REQUEST, VERSION, bound_udp_socket, drain_replies,
                      encode_frame, ipv4_source_key, parse_error_payload, parse_header,
                      siphash24)
from test_hostile import MIB, HostileTestCase, note, per_build

CHUNK = 20          # flood datagrams sent before the client pauses
PAUSE = 0.002       # so that neither socket buffer overflows: every datagram reaches shoutd
MARGIN = 3          # replies beyond the budget that clock granularity could allow


class PoliteUdpClient:
    """The well-behaved UDP client: one request at a time from its own source
    address, framed (distinct id and payload) and text in turn, every reply
    checked byte for byte."""

    def __init__(self, addr, source="127.0.0.2"):
        self.sock = bound_udp_socket(source)
        self.addr = addr
        self.sent = 0
        self.right = 0

    def exchange(self, test):
        i = self.sent
        if i % 2:
            request = b"polite datagram %d, Mixed case \xc3\xa9" % i
            expected = request.upper()
        else:
            payload = b"polite frame %d " % i + bytes((i + k) & 0xFF for k in range(i % 200))
            request = encode_frame(payload, 0x9000 + i)
            expected = encode_frame(payload.upper(), 0x9000 + i, frame_type=TYPE_REPLY)
        self.sock.sendto(request, self.addr)
        self.sent += 1
        reply, source = self.sock.recvfrom(1 << 16)
        test.assertEqual((reply, source), (expected, self.addr), f"polite request {i}")
        self.right += 1

    def close(self):
        self.sock.close()


class UdpTestCase(HostileTestCase):
    def setUp(self):
        super().setUp()
        self.addr = ("127.0.0.1", self.port)
        self.polite = PoliteUdpClient(self.addr)
        self.addCleanup(self.polite.close)

    def wait_datagrams(self, before, count):
        return self.wait_stats(lambda s: self.delta(before, s, "udp", "datagrams") >= count,
                               f"{count} datagrams read")


class UdpFloodTest(UdpTestCase):
    RATE = 100                    # replies per second to one source; burst 2 x RATE
    server_args = ("--udp-rate-loopback", "--udp-rate-per-ip", str(RATE))
    FLOOD = 3000
    # UDP replies are built in one fixed buffer; nothing is allocated per
    # datagram or per source beyond the fixed rate table. 1 MiB (ASan 4 MiB)
    # is room for the stats connections and the allocator's noise.
    UDP_RSS_BOUND = per_build(dev=1 * MIB, asan=4 * MIB)

    def test_flood_from_one_source_is_cut_to_its_budget_and_a_neighbour_is_answered(self):
        attacker = bound_udp_socket("127.0.0.1")
        self.addCleanup(attacker.close)
        self.polite.exchange(self)
        before = self.stats()
        self.begin_memory()
        started = time.monotonic()
        for i in range(0, self.FLOOD, CHUNK):
            for j in range(i, min(i + CHUNK, self.FLOOD)):
                attacker.sendto(b"flood %d" % j, self.addr)
            # The neighbour's 150 requests stay within its own burst of 200.
            self.polite.exchange(self)
            time.sleep(PAUSE)
        polite = (self.FLOOD + CHUNK - 1) // CHUNK
        after = self.wait_datagrams(before, self.FLOOD + polite)
        answered = drain_replies(attacker)
        elapsed = time.monotonic() - started
        self.assert_memory(self.UDP_RSS_BOUND, f"a flood of {self.FLOOD} datagrams")
        self.assert_up_and_serving()
        self.polite.exchange(self)
        note(f"UDP flood: {len(answered)} of {self.FLOOD} answered in {elapsed:.2f} s "
             f"(--udp-rate-per-ip {self.RATE})")
        # (c) the budget: the burst, then RATE per second at most.
        self.assertGreaterEqual(len(answered), 2 * self.RATE, "the burst was not given")
        self.assertLessEqual(len(answered), 2 * self.RATE + elapsed * self.RATE + MARGIN)
        self.assertEqual(self.delta(before, after, "udp", "datagrams"), self.FLOOD + polite)
        self.assertEqual(self.delta(before, after, "udp", "dropped_rate"),
                         self.FLOOD - len(answered))
        self.assertEqual(self.delta(before, after, "udp", "replies"), len(answered) + polite)
        # shoutd told of them: counts that add up, at most a line a second.
        self.assert_drops_logged("udp.dropped_rate", after["udp"]["dropped_rate"], started)
        self.assertEqual(self.delta(before, after, "udp", "dropped_global_rate"), 0)
        self.assertEqual(self.delta(before, after, "udp", "send_failed"), 0)
        # What the attacker did get was right.
        for reply in answered:
            self.assertRegex(reply, rb"^FLOOD \d+$")
        # (d) the neighbour got every reply.
        self.assertEqual(self.polite.right, self.polite.sent)
        self.assertEqual(self.polite.sent, polite + 2)


# shoutd's per-source UDP table (server/server.h SERVER_UDP_RATE_SLOTS,
# lib/ratelimit.h RATELIMIT_WAYS): 16384 slots in sets of 4.
RATE_WAYS = 4
RATE_SETS = 16384 // RATE_WAYS
# Test-only: fixes the tables' secret (docs/hardening.md), so that the test can
# choose addresses that share a set, as an attacker who knew it could.
TEST_SEED = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def rate_set_of(seed_hex, address):
    """The set of shoutd's UDP table an IPv4 source falls in, under that secret."""
    return siphash24(bytes.fromhex(seed_hex), ipv4_source_key(address)) & (RATE_SETS - 1)


def colliding_loopback_sources(seed_hex, count, avoid):
    """count addresses in 127.77/16 in one set, none sharing it with an address in avoid."""
    avoided = {rate_set_of(seed_hex, address) for address in avoid}
    sets = {}
    for n in range(1 << 16):
        if n & 0xFF in (0, 255):
            continue
        address = f"127.77.{n >> 8}.{n & 0xFF}"
        found = sets.setdefault(rate_set_of(seed_hex, address), [])
        found.append(address)
        if len(found) == count and rate_set_of(seed_hex, address) not in avoided:
            return found
    raise AssertionError(f"no {count} addresses share a set")


class UdpCollidingSourcesTest(UdpTestCase):
    """Five sources chosen to share one 4-way set take turns, so that each
    datagram would find its source evicted: each, and all five together, stay
    within RATELIMIT_WAYS x (burst + rate x elapsed) (lib/ratelimit.h)."""

    RATE = 10                     # burst 2 x RATE
    BURST = 2 * RATE
    server_args = ("--udp-rate-loopback", "--udp-rate-per-ip", str(RATE))
    server_env = {"SHOUTD_TEST_SEED": TEST_SEED}
    SOURCES = RATE_WAYS + 1
    ROUNDS = 400

    def test_sources_sharing_a_set_taking_turns_share_its_budget(self):
        self.assertEqual(siphash24(bytes(range(16)), bytes(range(15))), 0xA129CA6149BE45E5,
                         "the Python SipHash is not SipHash-2-4")
        addresses = colliding_loopback_sources(TEST_SEED, self.SOURCES, ["127.0.0.2"])
        socks = [bound_udp_socket(address) for address in addresses]
        for sock in socks:
            self.addCleanup(sock.close)
        self.polite.exchange(self)
        before = self.stats()
        started = time.monotonic()
        for r in range(self.ROUNDS):
            for i, sock in enumerate(socks):
                sock.sendto(b"turn %d of source %d" % (r, i), self.addr)
            time.sleep(PAUSE)
        sent = self.ROUNDS * self.SOURCES
        after = self.wait_datagrams(before, sent)
        # Every datagram was read by now: no reply can have been budgeted later.
        elapsed = time.monotonic() - started
        answered = [len(drain_replies(sock)) for sock in socks]
        self.assert_up_and_serving()
        self.polite.exchange(self)
        bound = RATE_WAYS * (self.BURST + self.RATE * elapsed) + MARGIN
        note(f"UDP colliding sources {addresses}: {answered} of {self.ROUNDS} each answered "
             f"in {elapsed:.2f} s (bound {bound:.0f}); "
             f"{self.delta(before, after, 'udp', 'rate_evictions')} evictions")
        for address, count in zip(addresses, answered):
            self.assertLessEqual(count, bound, f"{address} got {answered}")
        self.assertLessEqual(sum(answered), bound, f"the set's sources together got {answered}")
        # Nothing is lost either: the four slots' first bursts were given out.
        self.assertGreaterEqual(sum(answered), RATE_WAYS * self.BURST)
        self.assertEqual(self.delta(before, after, "udp", "dropped_rate"), sent - sum(answered))
        # The addresses really did collide: five sources, four slots, so at least
        # one eviction a round. (Were the Python hash wrong, there would be none.)
        self.assertGreaterEqual(self.delta(before, after, "udp", "rate_evictions"), self.ROUNDS)
        self.assertEqual(self.polite.right, self.polite.sent)
        self.assertIn("SHOUTD_TEST_SEED is set", self.server.stderr_text())


class TestSeedTest(unittest.TestCase):
    def test_a_test_seed_that_is_not_32_hex_digits_is_refused(self):
        if not SHOUTD:
            raise unittest.SkipTest("SHOUTD is not set")
        for seed in ("", "1234", TEST_SEED + "0", "x" * 32):
            env = dict(os.environ, SHOUTD_TEST_SEED=seed)
            proc = subprocess.run([SHOUTD, "--port", "0"], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=TIMEOUT, env=env)
            self.assertEqual(proc.returncode, 1, seed)
            self.assertEqual(proc.stdout, b"", seed)
            self.assertIn("SHOUTD_TEST_SEED needs 32 hex digits", proc.stderr.decode(), seed)


def udp_model(datagram, max_frame):
    """What the protocol says shoutd answers to one datagram: None (dropped:
    "empty" or "short"), or ("text"|"frame"|"error", expected)."""
    if not datagram:
        return None, "empty"
    if datagram[0] != MAGIC[0]:
        return "text", datagram.upper()
    if len(datagram) < HEADER_LEN:
        return None, "short"
    magic, version, ftype, length, frame_id = struct.unpack(">2sBBIQ", datagram[:HEADER_LEN])
    code = (ERR_BAD_MAGIC if magic != MAGIC else
            ERR_BAD_VERSION if version != VERSION else
            ERR_BAD_TYPE if not 1 <= ftype <= 3 else
            ERR_TOO_LARGE if length > max_frame else
            ERR_UNEXPECTED_TYPE if ftype != TYPE_REQUEST else
            ERR_LENGTH_MISMATCH if length != len(datagram) - HEADER_LEN else 0)
    if code == 0:
        return "frame", (encode_frame(datagram[HEADER_LEN:].upper(), frame_id,
                                      frame_type=TYPE_REPLY))
    if len(datagram) < HEADER_LEN + 2:
        return None, "short"   # an error frame would be longer than the datagram
    return "error", (frame_id, code)


class UdpMalformedTest(UdpTestCase):
    SEED = 51125
    MAX_FRAME = 1 << 20
    UDP_RSS_BOUND = UdpFloodTest.UDP_RSS_BOUND

    def datagrams(self):
        rng = random.Random(self.SEED)
        out = []
        for length in range(1, 18):                  # starting with 0xF5, 1 to 17 bytes
            for _ in range(6):
                out.append(MAGIC[:1] + rng.randbytes(length - 1))
            if length >= 2:
                out.append(MAGIC + rng.randbytes(length - 2))
        # Well-formed requests of 16 and 17 bytes are answered: their replies have their size.
        out.append(encode_frame(b"", 0x1616))
        out.append(encode_frame(b"q", 0x1717))
        # Headers that say just enough to reach each check, 18 to 64 bytes.
        for _ in range(60):
            length = rng.randrange(18, 65)
            header = MAGIC + struct.pack(">BBIQ", rng.choice([1, 1, 0, 9]), rng.choice([1, 1, 2, 3, 7]),
                                         rng.choice([length - 16, length - 15, 0, 1 << 31]),
                                         rng.randrange(1 << 64))
            out.append(header + rng.randbytes(length - HEADER_LEN))
        # Garbage that is not framed: text, answered uppercased, same length.
        for _ in range(40):
            first = rng.choice([b for b in range(256) if b != MAGIC[0]])
            out.append(bytes([first]) + rng.randbytes(rng.randrange(0, 64)))
        rng.shuffle(out)
        return out

    def test_short_and_malformed_datagrams_never_get_more_bytes_than_they_carried(self):
        attacker = bound_udp_socket("127.0.0.1")
        self.addCleanup(attacker.close)
        datagrams = self.datagrams()
        self.polite.exchange(self)
        before = self.stats()
        self.begin_memory()
        want = {"text": 0, "frame": 0, "error": 0, "short": 0}
        for n, datagram in enumerate(datagrams):
            kind, expected = udp_model(datagram, self.MAX_FRAME)
            attacker.sendto(datagram, self.addr)
            if kind is None:
                want[expected] += 1
            else:
                want[kind] += 1
                # Were an earlier "dropped" one answered, its reply would come here and differ.
                reply, source = attacker.recvfrom(1 << 16)
                what = f"datagram {n} {datagram.hex()}"
                self.assertEqual(source, self.addr)
                self.assertLessEqual(len(reply), len(datagram), "amplification: " + what)
                if kind == "error":
                    frame_id, code = expected
                    header = parse_header(reply)
                    self.assertEqual((header.magic, header.version, header.type, header.id),
                                     (MAGIC, VERSION, TYPE_ERROR, frame_id), what)
                    self.assertEqual(header.length, len(reply) - HEADER_LEN, what)
                    self.assertEqual(parse_error_payload(reply[HEADER_LEN:])[0], code, what)
                    self.assertGreaterEqual(len(reply), HEADER_LEN + 2, what)
                else:
                    self.assertEqual(reply, expected, what)
            if n % 10 == 0:
                self.polite.exchange(self)
        extra = drain_replies(attacker)
        self.assertEqual(extra, [], "answered datagrams that must be dropped")
        after = self.wait_datagrams(before, len(datagrams))
        self.assert_memory(self.UDP_RSS_BOUND, f"{len(datagrams)} malformed datagrams")
        self.assert_up_and_serving()
        polite = self.polite.sent - 1
        note(f"UDP malformed: {len(datagrams)} datagrams: {want}")
        self.assertTrue(all(want.values()), want)
        self.assertEqual(self.delta(before, after, "udp", "datagrams"), len(datagrams) + polite)
        self.assertEqual(self.delta(before, after, "udp", "dropped_short"), want["short"])
        self.assertEqual(self.delta(before, after, "udp", "error_replies"), want["error"])
        self.assertEqual(self.delta(before, after, "udp", "replies"),
                         want["text"] + want["frame"] + want["error"] + polite)
        self.assertLessEqual(self.delta(before, after, "udp", "bytes_out"),
                             self.delta(before, after, "udp", "bytes_in"))
        self.assertEqual(self.polite.right, self.polite.sent)


if __name__ == "__main__":
    unittest.main(verbosity=2)
