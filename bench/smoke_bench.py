#!/usr/bin/python3
"""Runs shout-bench briefly (a tiny --benchmark_min_time, a few core and e2e
benchmarks) so that the suite cannot rot, and checks the shape of its JSON:
every selected benchmark ran without error, e2e rows carry consistent
latency counters and their p50/p99 rows, the placement is in the context,
and the file is strict JSON. Never a timing goal.

usage: smoke_bench.py PATH_TO_shout-bench
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BINARY = None

# name -> size in bytes of one request's payload (None: not an e2e benchmark)
EXPECTED = {
    "core/upper/64": None,
    "core/memcpy/64": None,
    "core/wire/64/decode": None,
    "core/hist/record": None,
    "core/conn/64/framed": None,
    "e2e/tcp/64/pingpong/framed/manual_time": 64,
    "e2e/udp/64/pingpong/text/manual_time": 64,
    "e2e/tcp/1024/pipeline16/text/real_time": 1024,
    "e2e/udp/16384/window4/framed/real_time": 16384,
}
FILTER = ("^(" + "|".join(n.replace("/manual_time", "").replace("/real_time", "")
                          for n in EXPECTED) + ")(/manual_time|/real_time)?$")


def strict_load(path):
    def refuse(token):
        raise ValueError("non-finite value in JSON: " + token)

    with open(path, encoding="utf-8") as f:
        return json.loads(f.read(), parse_constant=refuse)


class SmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        out = os.path.join(cls.tmp.name, "bench.json")
        cmd = [BINARY, "--benchmark_filter=" + FILTER, "--benchmark_min_time=0.002",
               "--benchmark_out=" + out, "--benchmark_out_format=json"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        cls.status = proc.returncode
        cls.output = proc.stdout + proc.stderr
        cls.doc = strict_load(out) if os.path.exists(out) else {"benchmarks": [], "context": {}}
        cls.rows = {b["name"]: b for b in cls.doc["benchmarks"]}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_the_run_succeeds(self):
        self.assertEqual(self.status, 0, self.output)
        for b in self.doc["benchmarks"]:
            self.assertFalse(b.get("error_occurred"), b)

    def test_every_selected_benchmark_ran(self):
        for name in EXPECTED:
            self.assertIn(name, self.rows, "rows: " + ", ".join(sorted(self.rows)))
            self.assertGreater(self.rows[name]["iterations"], 0)

    def test_micro_benchmarks_count_what_they_processed(self):
        for name, size in EXPECTED.items():
            if size is None and name != "core/hist/record":
                self.assertGreater(self.rows[name]["bytes_per_second"], 0, name)
        self.assertGreater(self.rows["core/hist/record"]["items_per_second"], 0)

    def test_e2e_latency_counters_are_consistent(self):
        for name, size in EXPECTED.items():
            if size is None:
                continue
            r = self.rows[name]
            self.assertGreater(r["p50_ns"], 0, name)
            self.assertLessEqual(r["p50_ns"], r["p99_ns"], name)
            self.assertLessEqual(r["p99_ns"], r["p999_ns"], name)
            self.assertLessEqual(r["p999_ns"], r["max_ns"], name)
            self.assertGreater(r["msgs_per_s"], 0, name)
            self.assertEqual(r["lost"], 0, name)
            # Both are right replies over the same time: bytes are msgs x payload size.
            self.assertAlmostEqual(r["bytes_per_second"] / r["msgs_per_s"], size, delta=1e-6 * size)
            self.assertEqual(r["time_unit"], "us")

    def test_pingpong_time_is_the_mean_round_trip(self):
        for name, size in EXPECTED.items():
            if size is None or "pingpong" not in name:
                continue
            r = self.rows[name]
            # Manual time is the sum of the round trips the histogram holds.
            self.assertLessEqual(r["real_time"], r["max_ns"] / 1000.0 * 1.001, name)
            self.assertAlmostEqual(r["msgs_per_s"] * r["real_time"] / 1e6, 1.0, delta=0.01)

    def test_e2e_rows_have_percentile_rows(self):
        for name, size in EXPECTED.items():
            if size is None:
                continue
            for suffix, counter in (("p50", "p50_ns"), ("p99", "p99_ns")):
                row = self.rows.get(f"{name}/{suffix}")
                self.assertIsNotNone(row, f"{name}/{suffix}")
                self.assertAlmostEqual(row["real_time"], self.rows[name][counter] / 1000.0,
                                       delta=1e-9 * self.rows[name][counter])

    def test_placement_is_recorded(self):
        ctx = self.doc["context"]
        self.assertIn(ctx.get("e2e_placement"), ("same-cpu", "cross-cpu", "unpinned"))
        self.assertIn("e2e_client_cpu", ctx)
        self.assertIn("e2e_server_cpu", ctx)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
