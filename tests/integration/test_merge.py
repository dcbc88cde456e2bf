"""shout merge end to end, on result files this test writes itself following
the documented JSON format (docs/results.md, "JSON output"), and the server counters of
a real `shout ping` read from a fake stats port that this test serves.

The histogram layout is modelled here independently of lib/hist.c: values
under 256 ns have a bucket each; above, a value keeps its top 8 bits, so a
bucket's low edge is the value with the lower bits cleared.
"""

import json
import math
import os
import random
import shutil
import socket
import statistics
import tempfile
import threading
import unittest
from fractions import Fraction

from shoutlib import SHOUT, TIMEOUT, Server, run_program
from test_ping import validate_result

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
HIST_MAX_NS = (1 << 40) - 1
PERCENTILES = {"p50": "50", "p90": "90", "p99": "99", "p99_9": "99.9", "p99_99": "99.99"}


def bucket_bounds(value):
    """(low, high) of the bucket holding value, both inclusive."""
    value = min(value, HIST_MAX_NS)
    if value < 256:
        return value, value
    shift = value.bit_length() - 8
    low = (value >> shift) << shift
    return low, low + (1 << shift) - 1


def expected_percentile(samples, pct):
    """What the histogram reports: the midpoint of the bucket of the sample of
    rank ceil(pct% of n), clamped to the exact min and max."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(Fraction(pct) / 100 * len(ordered)))
    low, high = bucket_bounds(ordered[rank - 1])
    return min(max(low + (high - low) // 2, ordered[0]), ordered[-1])


def hist_json(samples):
    """A "latency" or "service" object for these samples, as shout writes it."""
    counts = {}
    for value in samples:
        low = bucket_bounds(value)[0]
        counts[low] = counts.get(low, 0) + 1
    if not samples:
        empty = {key: None for key in ("min", "max", "mean", "stdev", *PERCENTILES)}
        return {"unit": "ns", "count": 0, **empty, "clamped": 0, "sum_ns": 0.0,
                "m2_ns": 0.0, "buckets": []}
    mean = sum(samples) / len(samples)
    return {
        "unit": "ns", "count": len(samples), "min": min(samples), "max": max(samples),
        "mean": mean, "stdev": statistics.pstdev(samples),
        **{key: expected_percentile(samples, pct) for key, pct in PERCENTILES.items()},
        "clamped": 0, "sum_ns": float(sum(samples)),
        "m2_ns": math.fsum((x - mean) ** 2 for x in samples),
        "buckets": [[low, n] for low, n in sorted(counts.items())],
    }


def result_json(latency, service, elapsed_s, sent, server_requests, port=7680, udp=False):
    """A whole result file of a closed-loop TCP framed load run."""
    received = len(latency)
    return {
        "shout_version": "0.1.0",
        "command": "load",
        "config": {
            "command": "load", "host": "127.0.0.1", "port": port, "udp": udp,
            "framed": True, "sockperf": False, "size": 64, "duration_s": 5.0, "count": 0,
            "warmup_s": 1.0, "connections": 2, "threads": 1, "pipeline": 4, "rate": 0.0,
            "timeout_s": 1.0, "client_cpus": [0], "stats_port": port + 1,
        },
        "environment": {
            "kernel": "Linux 6.1.0", "cpu_model": "Test CPU", "hostname": "loadgen",
            "online_cpus": 2, "client_cpus": [0], "client_cpus_seen": [0],
            "server_cpu": 1, "server_pinned": None, "shared_cpu": False,
            "started_at": "2024-05-01T12:00:00Z",
        },
        "results": {
            "elapsed_s": elapsed_s,
            "counts": {
                "sent": sent, "received": received, "mismatches": 0, "lost": sent - received,
                "duplicates": 0, "reordered": 0, "error_frames": 0,
                "bytes_sent": sent * 80, "bytes_received": received * 80,
            },
            "rates": {"requests_per_s": received / elapsed_s,
                      "bytes_sent_per_s": sent * 80 / elapsed_s,
                      "bytes_received_per_s": received * 80 / elapsed_s},
            "latency": hist_json(latency),
            "service": hist_json(service),
            "cpu": {
                "client": {"user_s": 0.5, "system_s": 1.0, "us_per_message": 1.5e6 / sent},
                "server": {
                    "user_s": 0.25, "system_s": 0.5,
                    "us_per_message": 0.75e6 / server_requests,
                    "messages": server_requests, "requests": server_requests,
                    "text_bytes": 0, "udp_replies": 0, "bytes_in": server_requests * 80,
                    "bytes_out": server_requests * 80, "errors": 0,
                },
            },
        },
        "merged_from": 1,
    }


class MergeTest(unittest.TestCase):
    def setUp(self):
        if not SHOUT:
            raise unittest.SkipTest("SHOUT is not set")
        self.dir = tempfile.mkdtemp(prefix="test_merge.")
        self.addCleanup(shutil.rmtree, self.dir)
        rng = random.Random(7)
        # Two clients with different latency distributions, so the merge is visible.
        self.lat_a = [rng.randrange(20_000, 40_000) for _ in range(3000)]
        self.lat_b = [rng.randrange(30_000, 2_000_000) for _ in range(1000)]

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, document):
        with open(self.path(name), "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
        return self.path(name)

    def merge(self, *args):
        return run_program(SHOUT, "merge", *args)

    def test_merge_adds_histograms_and_counts(self):
        a = self.write("a.json", result_json(self.lat_a, [], 10.0, 3005, 4000))
        b = self.write("b.json", result_json(self.lat_b, [], 12.5, 1010, 4001))
        out = self.path("out.json")
        proc = self.merge(a, b, "--json", out)
        self.assertEqual(proc.returncode, EXIT_OK, proc.stderr.decode())
        table = proc.stdout.decode()
        self.assertIn("round trip (RTT)", table)
        self.assertIn("merged from 2 runs", table)
        self.assertIn(f"from {b} only", table)  # the same server: counters from the longer run

        with open(out, encoding="utf-8") as f:
            merged = json.load(f)
        validate_result(merged)
        both = self.lat_a + self.lat_b
        res = merged["results"]
        self.assertEqual(merged["merged_from"], 2)
        self.assertEqual(res["elapsed_s"], 12.5)
        self.assertEqual(res["counts"]["sent"], 3005 + 1010)
        self.assertEqual(res["counts"]["received"], 4000)
        self.assertEqual(res["counts"]["lost"], 15)
        self.assertEqual(res["rates"]["requests_per_s"], 4000 / 12.5)
        self.assertEqual(merged["config"]["connections"], 4)

        lat = res["latency"]
        self.assertEqual(lat["count"], 4000)
        self.assertEqual(lat["min"], min(both))
        self.assertEqual(lat["max"], max(both))
        self.assertEqual(lat["buckets"], hist_json(both)["buckets"])
        ordered = sorted(both)
        for key, pct in PERCENTILES.items():
            self.assertEqual(lat[key], expected_percentile(both, pct), key)
            true_value = ordered[math.ceil(Fraction(pct) / 100 * len(both)) - 1]
            self.assertLessEqual(abs(lat[key] - true_value), true_value / 256, key)
        self.assertAlmostEqual(lat["mean"], statistics.fmean(both), delta=1e-6)
        self.assertAlmostEqual(lat["stdev"], statistics.pstdev(both), delta=1e-6)
        self.assertIsNone(res["service"]["p50"])  # empty histograms stay empty

        self.assertEqual(res["cpu"]["client"]["user_s"], 1.0)
        self.assertEqual(res["cpu"]["client"]["system_s"], 2.0)
        self.assertEqual(res["cpu"]["server"]["requests"], 4001)  # one run's, not the sum

    def test_merge_of_different_servers_has_no_server_counters(self):
        a = self.write("a.json", result_json(self.lat_a, [], 10.0, 3000, 4000))
        b = self.write("b.json", result_json(self.lat_b, [], 10.0, 1000, 4000, port=9000))
        out = self.path("out.json")
        proc = self.merge(a, b, "--json", out)
        self.assertEqual(proc.returncode, EXIT_OK, proc.stderr.decode())
        self.assertIn("different servers", proc.stdout.decode())
        with open(out, encoding="utf-8") as f:
            merged = json.load(f)
        validate_result(merged)
        self.assertIsNone(merged["results"]["cpu"]["server"])

    def test_incompatible_files_exit_2(self):
        a = self.write("a.json", result_json(self.lat_a, [], 10.0, 3000, 4000))
        b = self.write("b.json", result_json(self.lat_b, [], 10.0, 1000, 4000, udp=True))
        proc = self.merge(a, b)
        self.assertEqual(proc.returncode, EXIT_USAGE)
        self.assertIn("cannot be merged", proc.stderr.decode())
        self.assertIn("UDP", proc.stderr.decode())
        self.assertEqual(proc.stdout, b"")

    def test_unreadable_file_exits_1_and_says_which(self):
        a = self.write("a.json", result_json(self.lat_a, [], 10.0, 3000, 4000))
        missing = self.path("missing.json")
        proc = self.merge(a, missing)
        self.assertEqual(proc.returncode, EXIT_FAILURE)
        self.assertIn(missing, proc.stderr.decode())

        document = result_json(self.lat_b, [], 10.0, 1000, 4000)
        document["results"]["latency"]["count"] += 1  # no longer the buckets' total
        bad = self.write("bad.json", document)
        proc = self.merge(a, bad)
        self.assertEqual(proc.returncode, EXIT_FAILURE)
        self.assertIn(bad, proc.stderr.decode())
        self.assertIn("results.latency.count", proc.stderr.decode())

    def test_usage_errors_exit_2(self):
        a = self.write("a.json", result_json(self.lat_a, [], 10.0, 3000, 4000))
        for args in ((), ("--json",), (a, "--bogus")):
            proc = self.merge(*args)
            self.assertEqual(proc.returncode, EXIT_USAGE, args)


def stats_snapshot(requests, user_s):
    """The stats port's object (the shoutd contract), with a few counters set."""
    return {
        "shoutd": "0.1.0", "pid": 1234, "uptime_s": 12.5, "cpu": 1, "pinned_cpu": -1,
        "rusage": {"user_s": user_s, "system_s": 0.5},
        "tcp": {"accepted": 1, "closed": 0, "resets": 0, "refused_no_fds": 0,
                "lingers_expired": 0, "requests": requests, "text_bytes": 0,
                "bytes_in": requests * 80, "bytes_out": requests * 80, "bytes_discarded": 0},
        "udp": {"datagrams": 0, "replies": 0, "bytes_in": 0, "bytes_out": 0,
                "dropped_empty": 0, "dropped_short": 0, "send_failed": 0},
        "sockperf": {"messages": 0, "replies": 0},
        "errors": {"bad_magic": 0, "bad_version": 0, "bad_type": 0, "too_large": 2,
                   "unexpected_type": 0, "length_mismatch": 0, "shutting_down": 0,
                   "no_memory": 0},
    }


class FakeStatsPort(threading.Thread):
    """Serves one JSON object per connection, from a list, then stops."""

    def __init__(self, answers):
        super().__init__(daemon=True)
        self.answers = answers
        self.served = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]

    def run(self):
        try:
            for answer in self.answers:
                conn, _ = self.sock.accept()
                with conn:
                    conn.sendall(json.dumps(answer).encode() + b"\n")
                self.served += 1
        except OSError:
            pass  # the client asked fewer times than expected; the test checks served

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.join(TIMEOUT)
        self.sock.close()


class ServerCountersTest(unittest.TestCase):
    """The client side of the stats port, through `shout ping`: the counters
    are read before and after the measured phase and their difference lands in
    the JSON file."""

    def test_ping_records_the_server_counters_delta(self):
        server = Server()
        self.addCleanup(server.close)
        work = tempfile.mkdtemp(prefix="test_merge.")
        self.addCleanup(shutil.rmtree, work)
        out = os.path.join(work, "ping.json")
        # Three reads: before any traffic (for the server's drops), then
        # around the measured phase.
        with FakeStatsPort([stats_snapshot(100, 1.0), stats_snapshot(100, 1.0),
                            stats_snapshot(350, 1.25)]) as stats:
            proc = run_program(SHOUT, "ping", "--framed", "--port", str(server.port),
                               "--count", "50", "--warmup", "0", "--stats-port",
                               str(stats.port), "--json", out)
        self.assertEqual(proc.returncode, EXIT_OK, proc.stderr.decode())
        self.assertEqual(stats.served, 3)
        with open(out, encoding="utf-8") as f:
            result = json.load(f)
        validate_result(result)
        res = result["results"]
        self.assertEqual(res["counts"]["received"], 50)
        self.assertEqual(res["latency"]["count"], 50)
        self.assertEqual(sum(n for _, n in res["latency"]["buckets"]), 50)
        srv = res["cpu"]["server"]
        self.assertEqual(srv["requests"], 250)
        self.assertEqual(srv["bytes_in"], 250 * 80)
        self.assertEqual(srv["errors"], 0)
        self.assertAlmostEqual(srv["user_s"], 0.25)
        self.assertAlmostEqual(srv["system_s"], 0.0)
        self.assertAlmostEqual(srv["us_per_message"], 0.25e6 / 250)
        self.assertEqual(result["environment"]["server_cpu"], 1)
        self.assertIsNone(result["environment"]["server_pinned"])
        self.assertEqual(server.stop(), 0, server.stderr_text())


if __name__ == "__main__":
    unittest.main()
