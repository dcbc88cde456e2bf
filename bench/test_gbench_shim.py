#!/usr/bin/python3
"""Runs test_gbench_shim (benchmarks with known answers, registered through
gbench.h) and checks its JSON: names and arguments, counters and their
flags, bytes and items per second, the label, the context, the p50/p99 rows,
exit statuses, that the file is strict JSON (no NaN or Infinity), and that
values kept by calls (gbench_keep) reach the sink for the reported runs only,
whatever the iteration search, interleaving and aggregate flags.

usage: test_gbench_shim.py PATH_TO_test_gbench_shim
"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import unittest

BINARY = None


def strict_load(path):
    """Load JSON, refusing NaN and Infinity as Python's json would accept them."""

    def refuse(token):
        raise ValueError("non-finite value in JSON: " + token)

    with open(path, encoding="utf-8") as f:
        return json.loads(f.read(), parse_constant=refuse)


def run(*args, expect_status=0):
    """Run the binary with args; return (status, stdout + stderr)."""
    proc = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    if expect_status is not None and proc.returncode != expect_status:
        raise AssertionError(f"exit {proc.returncode}, expected {expect_status}:\n{out}")
    return proc.returncode, out


class ShimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls.tmp.name, "shim.json")
        run("--benchmark_filter=-shim/(error|kept_args)", "--benchmark_out=" + cls.out,
            "--benchmark_out_format=json", "--benchmark_min_time=0.001")
        cls.doc = strict_load(cls.out)
        cls.rows = {b["name"]: b for b in cls.doc["benchmarks"]}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def row(self, name):
        self.assertIn(name, self.rows, "rows: " + ", ".join(sorted(self.rows)))
        return self.rows[name]

    def test_manual_time_is_the_reported_time(self):
        r = self.row("shim/manual/iterations:1000/manual_time")
        self.assertEqual(r["iterations"], 1000)
        self.assertEqual(r["time_unit"], "us")
        self.assertAlmostEqual(r["real_time"], 1000.0, places=6)

    def test_batched_loop_runs_exactly_the_iterations(self):
        self.assertEqual(self.row("shim/manual/iterations:1000/manual_time")["looped"], 1000)
        self.assertEqual(self.row("shim/pause/iterations:10/real_time")["looped"], 10)
        self.assertEqual(self.row("shim/pause/iterations:10/real_time")["iterations"], 10)

    def test_bytes_and_items_become_rates_over_manual_time(self):
        r = self.row("shim/manual/iterations:1000/manual_time")
        self.assertAlmostEqual(r["bytes_per_second"], 1e6, delta=1e-3)
        self.assertAlmostEqual(r["items_per_second"], 2e3, delta=1e-6)

    def test_counter_flags_reach_the_library(self):
        r = self.row("shim/manual/iterations:1000/manual_time")
        self.assertEqual(r["plain"], 42.0)
        self.assertAlmostEqual(r["rate"], 5000.0, delta=1e-6)
        self.assertAlmostEqual(r["avg"], 10.0, delta=1e-9)
        self.assertAlmostEqual(r["per_item_s"], 1e-3, delta=1e-12)
        # The KIBI bit only changes how the console shows k/M/G.
        self.assertEqual(r["kibi"], 2048.0)

    def test_label_and_context_are_written(self):
        self.assertEqual(self.row("shim/manual/iterations:1000/manual_time")["label"],
                         "shim label")
        self.assertEqual(self.doc["context"].get("shim_key"), "shim_value")

    def test_args_appear_in_names_and_in_the_state(self):
        for a0, a1 in ((3, 7), (4, 9)):
            r = self.row(f"shim/args/{a0}/{a1}/iterations:10/manual_time")
            self.assertEqual((r["arg0"], r["arg1"]), (a0, a1))
        for x in (16, 32, 64):
            self.assertEqual(self.row(f"shim/range/{x}/iterations:10/manual_time")["arg0"], x)
        for x in (1, 10, 100):
            self.assertEqual(self.row(f"shim/list/{x}/iterations:10/manual_time")["arg0"], x)

    def test_percentile_counters_become_rows_in_the_run_time_unit(self):
        base = "shim/manual/iterations:1000/manual_time"
        for suffix, us in (("p50", 1.5), ("p99", 4.0)):
            r = self.row(f"{base}/{suffix}")
            self.assertEqual(r["time_unit"], "us")
            self.assertEqual(r["run_type"], "iteration")
            self.assertAlmostEqual(r["real_time"], us, places=9)
            self.assertAlmostEqual(r["cpu_time"], us, places=9)
            self.assertEqual(r["iterations"], 1000)
            self.assertNotIn("p99_ns", r)

    def test_percentile_rows_follow_repetitions_and_aggregates(self):
        base = "shim/zero/iterations:100/repeats:3/manual_time"
        reps = [b for b in self.doc["benchmarks"]
                if b["name"] == base + "/p99" and b["run_type"] == "iteration"]
        self.assertEqual(len(reps), 3)
        for r in reps:
            self.assertAlmostEqual(r["real_time"], 900.0, places=6)  # ns
        mean = self.row(base + "/p99_mean")
        self.assertEqual(mean["run_type"], "aggregate")
        self.assertAlmostEqual(mean["real_time"], 900.0, places=6)
        self.assertAlmostEqual(self.row(base + "/p50_median")["real_time"], 700.0, places=6)
        self.assertEqual(self.row(base + "/p99_stddev")["real_time"], 0.0)
        self.assertEqual(self.row(base + "/p99_cv")["real_time"], 0.0)

    def test_rows_without_percentile_counters_get_no_percentile_rows(self):
        self.assertFalse([n for n in self.rows if n.startswith("shim/args") and
                          (n.endswith("/p50") or n.endswith("/p99"))])

    def test_zero_over_zero_is_written_as_zero_not_nan(self):
        cv = self.row("shim/zero/iterations:100/repeats:3/manual_time_cv")
        self.assertEqual(cv["zero"], 0.0)
        r = self.row("shim/no_time/iterations:32/manual_time")
        for key in ("rate", "bytes_per_second", "items_per_second"):
            self.assertTrue(math.isfinite(r[key]))
            self.assertEqual(r[key], 0.0)

    def test_a_failed_run_is_reported_and_makes_the_exit_status_1(self):
        out = os.path.join(self.tmp.name, "error.json")
        run("--benchmark_filter=shim/error/", "--benchmark_out=" + out, expect_status=1)
        rows = strict_load(out)["benchmarks"]
        self.assertEqual(len(rows), 1)
        self.assertTrue(rows[0]["error_occurred"])
        self.assertEqual(rows[0]["error_message"], "deliberate failure")

    def test_one_failed_repetition_makes_the_exit_status_1_when_only_aggregates_show(self):
        # The display then gets only the aggregates, which hide the failed
        # repetition; the exit status must not.
        for flag in ("--benchmark_display_aggregates_only=true",
                     "--benchmark_report_aggregates_only=true"):
            with self.subTest(flag=flag):
                _, out = run("--benchmark_filter=shim/error_once",
                             "--benchmark_repetitions=3", flag, expect_status=1)
                self.assertIn("shim/error_once", out)

    def test_an_unknown_flag_makes_the_exit_status_2(self):
        _, out = run("--no-such-flag", expect_status=2)
        self.assertIn("--no-such-flag", out)

    def test_other_file_formats_are_the_library_own(self):
        out = os.path.join(self.tmp.name, "shim.csv")
        run("--benchmark_filter=shim/manual", "--benchmark_out=" + out,
            "--benchmark_out_format=csv")
        with open(out, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("shim/manual/iterations:1000/manual_time", text)
        self.assertNotIn("/p99", text)

    # --- kept values: shim/kept_a and shim/kept_b search their iteration count ---

    def kept(self, *flags):
        """Runs shim/kept_a and _b with 3 repetitions and a real iteration search; returns
        ({name: [(call, iterations)]} in call order, [kept lines as dicts], JSON rows)."""
        out = os.path.join(self.tmp.name, "kept.json")
        _, text = run("--benchmark_filter=shim/kept_[ab]/", "--benchmark_min_time=0.05",
                      "--benchmark_repetitions=3", "--benchmark_out=" + out, *flags)
        calls = {}
        for name, call, iters in re.findall(r"^call (\S+) (\d+) iterations (\d+)$", text, re.M):
            calls.setdefault(name, []).append((int(call), int(iters)))
        kept = [dict(zip(("run", "rep", "reps", "iterations", "error", "from", "call",
                          "call_iterations"), m))
                for m in re.findall(r"^kept (\S+) rep (\d+)/(\d+) iterations (\d+) error (\d) "
                                    r"from (\S+) call (\d+) iterations (\d+)$", text, re.M)]
        rows = [r for r in strict_load(out)["benchmarks"] if r.get("run_type") == "iteration"]
        return calls, kept, rows

    def check_kept(self, calls, kept, rows):
        self.assertEqual(sorted(calls), ["shim/kept_a", "shim/kept_b"])
        for name, made in calls.items():
            run_name = name + "/manual_time"
            mine = [k for k in kept if k["run"] == run_name]
            # Exactly one value per repetition, in repetition order, each from its own benchmark.
            self.assertEqual([(k["rep"], k["reps"]) for k in mine],
                             [("0", "3"), ("1", "3"), ("2", "3")], kept)
            self.assertEqual({k["from"] for k in mine}, {name})
            # The search probed: the first repetition's run came after smaller calls.
            self.assertGreater(len(made), 3, made)
            runs, probes = made[-3:], made[:-3]
            self.assertEqual([int(k["call"]) for k in mine], [call for call, _ in runs])
            run_iterations = {iters for _, iters in runs}
            self.assertEqual(len(run_iterations), 1, runs)
            self.assertTrue(all(iters < min(run_iterations) for _, iters in probes), made)
            # And the sink's iterations are the reported ones.
            reported = [r["iterations"] for r in rows if r["name"] == run_name] if rows else []
            for k in mine:
                self.assertEqual(int(k["iterations"]), int(k["call_iterations"]))
                if rows:
                    self.assertEqual(int(k["iterations"]), reported[int(k["rep"])])
            self.assertEqual(k["error"], "0")
        # A mix-up would show: the two benchmarks find different counts.
        self.assertNotEqual(calls["shim/kept_a"][-1][1], calls["shim/kept_b"][-1][1])

    def test_kept_values_reach_the_sink_for_the_reported_runs_only(self):
        self.check_kept(*self.kept())

    def test_kept_values_follow_their_runs_when_interleaved(self):
        interleaved = False
        for _ in range(6):
            calls, kept, rows = self.kept("--benchmark_enable_random_interleaving=true")
            self.check_kept(calls, kept, rows)
            order = [name for name, _ in sorted((c, n) for n in calls for c, _ in calls[n])]
            interleaved |= len([1 for a, b in zip(order, order[1:]) if a != b]) > 1
            if interleaved:
                break
        # 2 of the 20 orders of 3 + 3 repetitions do not interleave; 6 such runs: 1e-6.
        self.assertTrue(interleaved, "random interleaving never interleaved")

    def test_kept_values_follow_their_runs_when_only_aggregates_are_shown(self):
        calls, kept, rows = self.kept("--benchmark_display_aggregates_only=true",
                                      "--benchmark_enable_random_interleaving=true")
        self.check_kept(calls, kept, rows)
        calls, kept, _ = self.kept("--benchmark_report_aggregates_only=true")
        self.check_kept(calls, kept, [])

    def test_keeping_in_a_benchmark_with_arguments_is_refused(self):
        _, out = run("--benchmark_filter=shim/kept_args", expect_status=1)
        self.assertIn("shim/kept_args/1/iterations:4: a benchmark with arguments cannot keep "
                      "values", out)

    def test_output_without_a_file_still_runs(self):
        _, out = run("--benchmark_filter=shim/list/1/")
        self.assertIn("shim/list/1/iterations:10/manual_time", out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
