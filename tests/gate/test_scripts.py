"""The ci/ scripts' --help, and ci/bench-report's plots, driven as a user would.

--help must print help and exit 0 without installing, building or running
anything; ci/bench-report must draw its three plots from result files (here
small synthetic ones, shaped like `shout ping/load --json` writes them) with
every series of a panel in a colour and a dash type of its own. With
SHOUT_BENCH set to a built shout-bench, its --help is checked for the
SHOUT_BENCH_* variables."""

import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CI = os.path.join(HERE, "..", "..", "ci")
HELP_TIMEOUT = 20  # seconds: help that takes longer is doing something else


def run(*args, env=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=HELP_TIMEOUT,
                          check=False, env=env)


def load_bench_report():
    path = os.path.join(CI, "bench-report")
    loader = importlib.machinery.SourceFileLoader("bench_report", path)
    spec = importlib.util.spec_from_loader("bench_report", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def result(command, udp, framed, size, shared_cpu, intervals=()):
    """A result file with what ci/bench-report reads; latencies 20..80 µs."""
    buckets = [[20000 + 1000 * i, 10] for i in range(60)]
    return {
        "config": {"command": command, "udp": udp, "framed": framed, "size": size},
        "environment": {"shared_cpu": shared_cpu, "client_cpus": [1], "server_pinned": 0},
        "results": {
            "elapsed_s": 1.0,
            "counts": {"sent": 600, "received": 600, "lost": 0, "mismatches": 0,
                       "bytes_sent": 600 * size, "bytes_received": 600 * size},
            "latency": {"p50": 50000, "p90": 74000, "p99": 79000, "p99_9": 79500,
                        "max": 80000, "buckets": buckets},
            "cpu": {"client": None, "server": None},
            "intervals": list(intervals),
        },
    }


class ScriptsTest(unittest.TestCase):
    def test_ci_test_help_prints_usage_and_runs_nothing(self):
        proc = run(os.path.join(CI, "test"), "--help")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("usage: ci/test", proc.stdout)
        self.assertIn("Exits non-zero on any failure", proc.stdout)
        # Nothing installed or built: no step of the run was announced.
        self.assertNotIn("ci/test: ===", proc.stdout + proc.stderr)
        self.assertNotIn("set -euo", proc.stdout)

    def test_ci_test_refuses_an_unknown_argument(self):
        proc = run(os.path.join(CI, "test"), "--bogus")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("try --help", proc.stderr)

    def test_ci_bench_help_is_the_comment_and_nothing_more(self):
        proc = run(os.path.join(CI, "bench"), "--help")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("ci/bench --quick", proc.stdout)
        self.assertNotIn("set -euo pipefail", proc.stdout)
        self.assertEqual(proc.stderr, "")

    def test_ci_bench_report_help_is_help_not_a_folder(self):
        for flag in ("--help", "-h"):
            proc = run(os.path.join(CI, "bench-report"), flag)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("Usage: ci/bench-report RESULTS_DIR", proc.stdout)
            self.assertNotIn("no JSON files", proc.stdout + proc.stderr)

    def test_ci_bench_report_refuses_what_is_not_a_folder(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run(os.path.join(CI, "bench-report"), os.path.join(tmp, "missing"))
            self.assertEqual(proc.returncode, 2)
            self.assertIn("is not a folder", proc.stderr)
            proc = run(os.path.join(CI, "bench-report"), "--bogus")
            self.assertEqual(proc.returncode, 2)

    def test_every_series_of_a_panel_has_its_own_colour_and_dash(self):
        report = load_bench_report()
        styles = [report.style(i) for i in range(len(report.COLOURS))]
        colours = [s.split("lc rgb ")[1].split()[0] for s in styles]
        dashes = [s.split(" dt ")[1] for s in styles]
        self.assertEqual(len(set(colours)), len(colours))
        self.assertEqual(len(set(dashes)), len(dashes))
        self.assertEqual(len(report.COLOURS), len(report.DASHES))

    def test_ci_bench_report_draws_percentiles_throughput_and_time(self):
        if not shutil.which("gnuplot"):
            self.skipTest("gnuplot is not installed (ci/test installs gnuplot-nox)")
        series = [{"t_s": 0.1 * (i + 1), "span_s": 0.1, "replies": 100 + i,
                   "replies_per_s": 1000.0 + 10 * i, "p50_us": 40.0,
                   "p99_us": None if i == 3 else 70.0 + i, "lost": 0, "errors": 0}
                  for i in range(10)]
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "json"))
            n = 0
            for udp in (False, True):
                for framed in (False, True):
                    for shared in (True, False):
                        docs = [result("ping", udp, framed, 64, shared)]
                        if not shared:
                            docs.append(result("load", udp, framed, 64, shared, series))
                        for doc in docs:
                            n += 1
                            with open(os.path.join(tmp, "json", f"{n}.json"), "w") as f:
                                json.dump(doc, f)
            proc = subprocess.run([sys.executable, os.path.join(CI, "bench-report"), tmp],
                                  capture_output=True, text=True, timeout=120, check=False)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            for png in ("latency-percentiles.png", "throughput-by-size.png",
                        "load-over-time.png"):
                path = os.path.join(tmp, "plots", png)
                with open(path, "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", png)
                self.assertIn(f"plots/{png}", open(os.path.join(tmp, "report.md")).read())
            # The time series: one row per interval, the missing p99 as gnuplot's NaN.
            with open(os.path.join(tmp, "plots", "time-UDP-framed-64.dat")) as f:
                rows = f.read().splitlines()
            self.assertEqual(len(rows), 10)
            self.assertTrue(rows[3].endswith("NaN"))

    def test_shout_bench_help_names_its_environment(self):
        bench = os.environ.get("SHOUT_BENCH", "")
        if not bench:
            self.skipTest("SHOUT_BENCH is not set")
        proc = run(bench, "--help")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for name in ("SHOUT_BENCH_CLIENT_CPU", "SHOUT_BENCH_SERVER_CPU",
                     "SHOUT_BENCH_E2E_ITERATIONS", "SHOUT_BENCH_HISTOGRAMS=DIR",
                     "ci/bench-compare BASE_DIR NEW_DIR", "--benchmark_filter"):
            self.assertIn(name, proc.stdout)


if __name__ == "__main__":
    unittest.main()
