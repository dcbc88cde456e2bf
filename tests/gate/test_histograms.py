"""shout-bench's histogram files (SHOUT_BENCH_HISTOGRAMS=DIR) and the tail gate on them.

shout-bench runs a few e2e benchmarks briefly, with a real iteration search
(no SHOUT_BENCH_E2E_ITERATIONS, a short --benchmark_min_time) and three
repetitions, so that Google Benchmark calls each benchmark more often than
it reports it. Each file must then belong to exactly one reported run: one
file per repetition, with the run's name, and a histogram that holds what
that run measured (its iterations, less the UDP requests it lost, and the
p50, p99 and max it reported), never a probe call's. Then ci/bench-compare
gates the directory against itself, and against a copy whose every sample
is 1.3 times as long.

Nothing here depends on how fast this machine is: the runs are checked for
what they wrote, and the gate's verdicts are on fixed copies of one run.
Needs SHOUT_BENCH (a built shout-bench) and BENCH_COMPARE; without
SHOUT_BENCH every case is skipped, and says so.
"""

import json
import os
import re
import subprocess
import tempfile
import unittest

# The tail gate's own tests move every sample of a result file the same way.
from test_gate import slowed

HERE = os.path.dirname(os.path.abspath(__file__))
GATE = os.environ.get("BENCH_COMPARE") or os.path.join(HERE, "..", "..", "ci", "bench-compare")
BENCH = os.environ.get("SHOUT_BENCH", "")
RUN_TIMEOUT = 240     # seconds for one brief shout-bench run
GATE_TIMEOUT = 120

# One of each kind: manual time (ping-pong, TCP) and real time (a UDP window, which may lose).
PINGPONG = "e2e/tcp/64/pingpong/framed/manual_time"
WINDOW = "e2e/udp/64/window16/text/real_time"
PIPELINE = "e2e/tcp/64/pipeline16/text/real_time"


def filter_for(*names):
    return ("--benchmark_filter=^(" + "|".join(re.escape(n.rsplit("/", 1)[0]) for n in names)
            + ")/")


@unittest.skipUnless(BENCH, "SHOUT_BENCH is not set: give it the path of a built shout-bench")
class HistogramsTest(unittest.TestCase):

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="histograms-test.")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name

    def bench(self, histograms, *args, extra_env=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUT_BENCH_")}
        env["SHOUT_BENCH_HISTOGRAMS"] = histograms
        env.update(extra_env or {})
        return subprocess.run([BENCH, *args], env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, check=False)

    def run_searching(self, *names, flags=()):
        """Three repetitions of names with a real iteration search; returns (the directory's
        files by benchmark, the JSON's per-repetition rows by (name, repetition))."""
        histograms = os.path.join(self.tmp, "out", "histograms")   # created with its parent
        out = os.path.join(self.tmp, "bench.json")
        proc = self.bench(histograms, filter_for(*names), "--benchmark_min_time=0.02",
                          "--benchmark_repetitions=3", "--benchmark_out=" + out,
                          "--benchmark_out_format=json", *flags)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        with open(out, encoding="utf-8") as f:
            rows = {(r["name"], r["repetition_index"]): r for r in json.load(f)["benchmarks"]
                    if r.get("run_type") == "iteration" and r["name"] in names}
        files = {}
        for entry in sorted(os.listdir(histograms)):
            with open(os.path.join(histograms, entry), encoding="utf-8") as f:
                doc = json.load(f)
            files.setdefault(doc["benchmark"], []).append((entry, doc))
        return histograms, files, rows

    def check_runs(self, names, files, rows):
        self.assertEqual(sorted(files), sorted(names))
        run_ids = set()
        for name in names:
            mine = files[name]
            # One file per reported repetition: three, never a probe's fourth.
            self.assertEqual(sorted(doc["repetition_index"] for _, doc in mine), [0, 1, 2],
                             [entry for entry, _ in mine])
            for entry, doc in mine:
                rep = doc["repetition_index"]
                row = rows[(name, rep)]
                self.assertEqual(doc["format"], 1)
                self.assertEqual(doc["kind"], "shout-bench histogram")
                self.assertEqual((doc["repetitions"], doc["iterations"]), (3, row["iterations"]))
                self.assertIn(f".r{rep}.", entry)
                run_ids.add(doc["run_id"])
                latency = doc["results"]["latency"]
                # The search ran: a first call of one iteration was a probe, not a run.
                self.assertGreater(row["iterations"], 1, row)
                # An iteration is one request answered or lost; answers are recorded.
                self.assertEqual(latency["count"] + doc["results"]["counts"]["lost"],
                                 row["iterations"], f"{entry} against {row}")
                self.assertEqual(doc["results"]["counts"]["lost"], row["lost"])
                self.assertEqual(sum(count for _, count in latency["buckets"]), latency["count"])
                # And it is this repetition's histogram: the percentiles it reported.
                self.assertEqual([latency["p50"], latency["p99"], latency["max"]],
                                 [row["p50_ns"], row["p99_ns"], row["max_ns"]],
                                 f"{entry} against {name} repetition {rep}")
                self.assertEqual(doc["config"]["placement"], "same-cpu")
        self.assertEqual(len(run_ids), 3 * len(names))

    def test_one_file_per_repetition_holds_that_run_after_an_iteration_search(self):
        names = (PINGPONG, WINDOW)
        _, files, rows = self.run_searching(*names)
        self.check_runs(names, files, rows)

    def test_interleaved_repetitions_still_map_to_their_runs(self):
        names = (PINGPONG, WINDOW, PIPELINE)
        _, files, rows = self.run_searching(
            *names, flags=("--benchmark_enable_random_interleaving=true",
                           "--benchmark_display_aggregates_only=true"))
        self.check_runs(names, files, rows)

    def gate(self, base, new):
        return subprocess.run([GATE, base, new], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=GATE_TIMEOUT,
                              check=False)

    def test_gate_passes_a_run_against_itself_and_fails_it_1_3_times_slower(self):
        histograms, files, _ = self.run_searching(PINGPONG)
        p99 = PINGPONG + "/p99"
        proc = self.gate(histograms, histograms)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertRegex(proc.stdout, rf"(?m)^  ok +{re.escape(p99)}  p99 .*\(\+0\.0%\), "
                         r"merged 3 vs 3 repetitions")
        slow = os.path.join(self.tmp, "slow")
        os.makedirs(slow)
        for entry, doc in files[PINGPONG]:
            with open(os.path.join(slow, entry), "w", encoding="utf-8") as f:
                json.dump(slowed(doc, 1.3), f)
        proc = self.gate(histograms, slow)
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertEqual(re.findall(r"(?m)^REGRESSION (\S+): ", proc.stdout), [p99], proc.stdout)
        self.assertRegex(proc.stdout, r"\(\+(29|30|31)\.\d%\)")

    def test_bad_directory_is_one_line_and_exit_2_before_any_benchmark(self):
        a_file = os.path.join(self.tmp, "a-file")
        with open(a_file, "w", encoding="utf-8") as f:
            f.write("not a directory\n")
        for bad in (a_file, os.path.join(a_file, "below")):
            with self.subTest(bad):
                # Fixed iterations: an old shout-bench, which ignores the variable, ends soon.
                proc = self.bench(bad, filter_for(PINGPONG),
                                  extra_env={"SHOUT_BENCH_E2E_ITERATIONS": "10"})
                self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
                self.assertIn(f"SHOUT_BENCH_HISTOGRAMS={bad}: ", proc.stderr)
                self.assertIn("Not a directory", proc.stderr)
                self.assertNotIn("e2e/", proc.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
