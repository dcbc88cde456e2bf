"""The regression gate, ci/bench-compare, driven both ways.

The fixtures are real Google Benchmark 1.7.1 JSON (Debian's libbenchmark),
written by a throwaway C++ program pinned to one CPU: two uppercase loops, a
loopback TCP ping-pong (real time) and a p99 of it (manual time), run once
with --benchmark_repetitions=5 --benchmark_display_aggregates_only=true
(fixtures/reps5.json) and once without repetitions (fixtures/single.json);
the last two were renamed to shout's e2e/tcp/64/pingpong and
e2e/tcp/64/pingpong/p99. Every doctored copy is made here, at run time.

With SHOUT_BENCH set to a built shout-bench, one more case runs it briefly
with 5 repetitions and gates the real output; SHOUT_BENCH_ARGS overrides its
filter. Without SHOUT_BENCH that case is skipped, and says so.

The gate and compare.py run under Debian's /usr/bin/python3. Nothing here
depends on how fast this machine is: every verdict is decided by fixed data.
"""

import copy
import json
import os
import re
import shlex
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GATE = os.environ.get("BENCH_COMPARE") or os.path.join(HERE, "..", "..", "ci", "bench-compare")
FIXTURES = os.path.join(HERE, "fixtures")
GATE_TIMEOUT = 120            # seconds for one gate run (compare.py imports scipy)
SHOUT_BENCH_TIMEOUT = 600     # seconds for the brief shout-bench run
# core/upper/4096 and its scalar twin beside the 64-byte one: a benchmark whose
# repetitions spread under 20% is needed to prove the gate catches x1.2, and
# the larger sizes spread least on a noisy machine.
SHOUT_BENCH_DEFAULT_ARGS = ("--benchmark_filter=core/upper/64$|core/upper/4096$|"
                            "core/upper/4096/scalar|e2e/tcp/64/pingpong")

UPPER_64 = "core/upper/64"
UPPER_4096 = "core/upper/4096"
PINGPONG = "e2e/tcp/64/pingpong"
P99 = "e2e/tcp/64/pingpong/p99"
ALL = [UPPER_64, UPPER_4096, PINGPONG, P99]
PLAIN_RATIO = "no repetitions: plain ratio, no significance test"


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def repetitions(doc, name):
    """The per-repetition rows of one benchmark (not its aggregates)."""
    return [row for row in doc["benchmarks"]
            if row["name"] == name and row.get("run_type") != "aggregate"]


def times(doc, name):
    return [row["real_time"] for row in repetitions(doc, name)]


def benchmark_of(row):
    """The benchmark a row belongs to: its name, or for an aggregate (x_mean) its run_name (x)."""
    return row.get("run_name", row["name"]) if row.get("run_type") == "aggregate" else row["name"]


def scaled(doc, factor, only=None):
    """Every time (or those of the benchmarks in only) times factor, aggregates kept consistent."""
    doc = copy.deepcopy(doc)
    for row in doc["benchmarks"]:
        if only is not None and benchmark_of(row) not in only:
            continue
        if row.get("run_type") != "aggregate" or row.get("aggregate_unit") == "time":
            row["real_time"] *= factor
            row["cpu_time"] *= factor
    return doc


def without(doc, name):
    doc = copy.deepcopy(doc)
    doc["benchmarks"] = [row for row in doc["benchmarks"] if benchmark_of(row) != name]
    return doc


def with_error(doc, name, message="doctored: no server"):
    """One repetition of name turned into the row 1.7.1 writes after SkipWithError."""
    doc = copy.deepcopy(doc)
    row = repetitions(doc, name)[0]
    row.update({"error_occurred": True, "error_message": message, "iterations": 1,
                "real_time": 0.0, "cpu_time": 0.0})
    return doc


def rotated(doc):
    """The same measurements, each benchmark's repetitions in another order."""
    doc = copy.deepcopy(doc)
    for name in dict.fromkeys(benchmark_of(row) for row in doc["benchmarks"]):
        rows = repetitions(doc, name)
        values = [(row["real_time"], row["cpu_time"]) for row in rows]
        values = values[2:] + values[:2]
        for row, (real, cpu) in zip(rows, values):
            row["real_time"], row["cpu_time"] = real, cpu
    return doc


def jittered(doc, fraction):
    """Repetition i made (1 + fraction) or (1 - fraction) times as long, alternately."""
    doc = copy.deepcopy(doc)
    for row in doc["benchmarks"]:
        if row.get("run_type") != "aggregate":
            sign = 1 if row.get("repetition_index", 0) % 2 == 0 else -1
            row["real_time"] *= 1 + sign * fraction
            row["cpu_time"] *= 1 + sign * fraction
    return doc


class GateTest(unittest.TestCase):

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="gate-test.")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.files = 0

    def write(self, doc):
        self.files += 1
        path = os.path.join(self.tmp, f"run{self.files}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
        return path

    def gate(self, base, new, *options, expect):
        """Runs the gate on two documents or paths; asserts its exit status; returns its output."""
        args = [p if isinstance(p, str) else self.write(p) for p in (base, new)]
        proc = self.run_gate(*args, *options)
        self.assertEqual(proc.returncode, expect,
                         f"ci/bench-compare {' '.join(args + list(options))} exited "
                         f"{proc.returncode}, not {expect}; its output:\n{proc.stdout}")
        return proc.stdout

    def run_gate(self, *args):
        return subprocess.run([GATE, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=GATE_TIMEOUT, check=False)

    def failures(self, output, status):
        """Names the gate's closing summary lists under status (REGRESSION, MISSING, ...)."""
        return re.findall(rf"^{status} (\S+): ", output, re.M)

    def verdict(self, output, name):
        """The verdict line of one benchmark."""
        match = re.search(rf"^  \S+ +{re.escape(name)}  .*$", output, re.M)
        self.assertIsNotNone(match, f"no verdict line for {name} in:\n{output}")
        return match.group(0)

    # --- both ways, with and without repetitions ---

    def test_run_compared_with_itself_passes(self):
        for name in ("reps5.json", "single.json"):
            with self.subTest(fixture=name):
                path = os.path.join(FIXTURES, name)
                output = self.gate(path, path, expect=0)
                self.assertIn("PASS", output)
                self.assertIn("Comparing", output, "compare.py's table is printed")
                for benchmark in ALL:
                    self.assertTrue(self.verdict(output, benchmark).lstrip().startswith("ok "))

    def test_every_time_20_percent_slower_fails_with_repetitions(self):
        base = fixture("reps5.json")
        for name in ALL:   # the data make this certain: no benchmark spreads 20% across repetitions
            self.assertLess(max(times(base, name)) / min(times(base, name)), 1.2, name)
        output = self.gate(base, scaled(base, 1.2), expect=1)
        self.assertEqual(sorted(self.failures(output, "REGRESSION")), sorted(ALL), output)
        line = self.verdict(output, PINGPONG)
        self.assertIn("+20.0%", line)
        self.assertIn("U test p = 0.0079", line)   # 5 vs 5, fully separated: the exact p

    def test_every_time_20_percent_slower_fails_without_repetitions(self):
        base = fixture("single.json")
        output = self.gate(base, scaled(base, 1.2), expect=1)
        self.assertEqual(sorted(self.failures(output, "REGRESSION")), sorted(ALL), output)
        for name in ALL:
            self.assertIn(PLAIN_RATIO, self.verdict(output, name))

    def test_p99_row_alone_20_percent_slower_fails_with_repetitions(self):
        base = fixture("reps5.json")
        output = self.gate(base, scaled(base, 1.2, only={P99}), expect=1)
        self.assertEqual(self.failures(output, "REGRESSION"), [P99], output)
        self.assertTrue(self.verdict(output, PINGPONG).lstrip().startswith("ok "))

    def test_p99_row_alone_20_percent_slower_fails_without_repetitions(self):
        base = fixture("single.json")
        output = self.gate(base, scaled(base, 1.2, only={P99}), expect=1)
        self.assertEqual(self.failures(output, "REGRESSION"), [P99], output)

    # --- noise passes, a real slowdown does not ---

    def test_same_repetitions_in_another_order_pass(self):
        base = fixture("reps5.json")
        self.gate(base, rotated(base), expect=0)

    def test_one_percent_noise_passes(self):
        base = fixture("reps5.json")
        self.gate(base, jittered(base, 0.01), expect=0)

    def test_significant_but_under_threshold_passes(self):
        # Every repetition 3% slower is as significant as 5 vs 5 can be, yet under 5%.
        base = fixture("reps5.json")
        output = self.gate(base, scaled(base, 1.03), expect=0)
        self.assertIn("U test p = 0.0079", self.verdict(output, UPPER_4096))

    def test_over_threshold_but_not_significant_passes(self):
        # Two repetitions much faster, three 20% slower: the median is 20% slower,
        # but the samples overlap, so the U test cannot tell them apart.
        base = fixture("reps5.json")
        old = sorted(times(base, UPPER_4096))
        self.assertLess(old[1] * 0.5, old[0])     # the two fast ones sort below every old one
        self.assertGreater(old[2] * 1.2, old[4])  # the three slow ones above every old one
        new = copy.deepcopy(base)
        values = [old[0] * 0.5, old[1] * 0.5, old[2] * 1.2, old[3] * 1.2, old[4] * 1.2]
        for row, value in zip(repetitions(new, UPPER_4096), values):
            row["real_time"] = row["cpu_time"] = value
        output = self.gate(base, new, expect=0)
        line = self.verdict(output, UPPER_4096)
        self.assertIn("+20.0%", line)
        self.assertIn("not significant", line)

    def test_aggregate_rows_are_not_gated(self):
        # Only the _mean, _median, _stddev rows doctored: the gate reads repetitions.
        base = fixture("reps5.json")
        new = copy.deepcopy(base)
        for row in new["benchmarks"]:
            if row.get("run_type") == "aggregate":
                row["real_time"] *= 1.5
        output = self.gate(base, new, expect=0)
        self.assertNotIn("_median", "".join(re.findall(r"^  .*$", output, re.M)))

    # --- the threshold ---

    def test_threshold_option_is_used_with_repetitions(self):
        base = fixture("reps5.json")
        self.gate(base, scaled(base, 1.2), "--threshold", "25%", expect=0)
        self.gate(base, scaled(base, 1.2), "--threshold=15", expect=1)

    def test_without_repetitions_the_same_threshold_decides(self):
        base = fixture("single.json")
        output = self.gate(base, scaled(base, 1.06), expect=1)   # default 5%
        self.assertIn(PLAIN_RATIO, self.verdict(output, UPPER_64))
        self.gate(base, scaled(base, 1.06), "--threshold", "10%", expect=0)
        self.gate(base, scaled(base, 1.04), expect=0)

    def test_fewer_than_five_repetitions_a_side_use_plain_ratio(self):
        base = fixture("reps5.json")
        single = fixture("single.json")
        output = self.gate(base, single, expect=0)
        self.assertIn("5 vs 1 repetitions, fewer than 5 a side: plain ratio of medians",
                      self.verdict(output, PINGPONG))
        output = self.gate(base, scaled(single, 1.2), expect=1)
        self.assertEqual(sorted(self.failures(output, "REGRESSION")), sorted(ALL), output)

    def test_three_repetitions_a_side_use_plain_ratio(self):
        # 3 vs 3 cannot reach p < 0.05 (0.1 at best), so the U test must not decide.
        three = copy.deepcopy(fixture("reps5.json"))
        three["benchmarks"] = [row for row in three["benchmarks"]
                               if row.get("repetition_index", 0) < 3]
        output = self.gate(three, scaled(three, 1.2), expect=1)
        self.assertEqual(sorted(self.failures(output, "REGRESSION")), sorted(ALL), output)
        self.assertIn("3 vs 3 repetitions, fewer than 5 a side: plain ratio of medians, "
                      "no significance test", self.verdict(output, P99))

    # --- always a failure ---

    def test_missing_benchmark_fails(self):
        for name in ("reps5.json", "single.json"):
            with self.subTest(fixture=name):
                base = fixture(name)
                output = self.gate(base, without(base, UPPER_4096), expect=1)
                self.assertEqual(self.failures(output, "MISSING"), [UPPER_4096], output)

    def test_error_row_in_new_fails(self):
        for name in ("reps5.json", "single.json"):
            with self.subTest(fixture=name):
                base = fixture(name)
                output = self.gate(base, with_error(base, PINGPONG), expect=1)
                self.assertEqual(self.failures(output, "ERROR"), [PINGPONG], output)
                self.assertIn("NEW row reports error_occurred: 'doctored: no server'", output)

    def test_error_row_in_base_fails(self):
        base = fixture("reps5.json")
        output = self.gate(with_error(base, P99), base, expect=1)
        self.assertEqual(self.failures(output, "ERROR"), [P99], output)
        self.assertIn("BASE row reports error_occurred", output)

    def test_changed_time_unit_fails(self):
        base = fixture("single.json")
        new = copy.deepcopy(base)
        row = repetitions(new, PINGPONG)[0]
        row["time_unit"] = "ns"
        row["real_time"] *= 1000
        row["cpu_time"] *= 1000
        output = self.gate(base, new, expect=1)
        self.assertEqual(self.failures(output, "UNIT"), [PINGPONG], output)

    def test_benchmark_only_in_new_is_listed_not_gated(self):
        base = fixture("single.json")
        output = self.gate(without(base, UPPER_64), base, expect=0)
        self.assertIn("in NEW only, not gated", self.verdict(output, UPPER_64))

    # --- usage ---

    def test_aggregates_only_file_is_refused(self):
        base = fixture("reps5.json")
        aggregates = copy.deepcopy(base)
        aggregates["benchmarks"] = [row for row in base["benchmarks"]
                                    if row.get("run_type") == "aggregate"]
        output = self.gate(base, aggregates, expect=2)
        self.assertIn("--benchmark_display_aggregates_only", output)

    def test_unreadable_or_foreign_file_exits_2(self):
        good = os.path.join(FIXTURES, "single.json")
        not_json = os.path.join(self.tmp, "not.json")
        with open(not_json, "w", encoding="utf-8") as f:
            f.write("Benchmark  Time  CPU\n")
        cases = {
            "does not exist": os.path.join(self.tmp, "absent.json"),
            "not JSON": not_json,
            "no benchmarks list": self.write({"context": {}}),
            "no benchmarks": self.write({"context": {}, "benchmarks": []}),
            "row without time": self.write({"benchmarks": [{"name": "x"}]}),
        }
        for what, path in cases.items():
            with self.subTest(what):
                output = self.gate(good, path, expect=2)
                self.assertIn(path, output)
                self.gate(path, good, expect=2)

    def test_bad_usage_exits_2(self):
        good = os.path.join(FIXTURES, "single.json")
        for args in ([], [good], [good, good, good], [good, good, "--threshold", "abc"],
                     [good, good, "--threshold", "-5%"], [good, good, "--no-such-option"]):
            with self.subTest(args=args):
                proc = self.run_gate(*args)
                self.assertEqual(proc.returncode, 2, proc.stdout)
                self.assertIn("usage: ci/bench-compare BASE.json NEW.json", proc.stdout)

    def test_help_states_the_rule_and_exit_codes(self):
        proc = self.run_gate("--help")
        self.assertEqual(proc.returncode, 0, proc.stdout)
        for phrase in ("--threshold PCT", "real_time only", "U test", PLAIN_RATIO, "/p99",
                       "--benchmark_display_aggregates_only", "Exit status:",
                       "  1  the gate failed", "/usr/bin/python3"):
            self.assertIn(phrase, proc.stdout)

    # --- a real shout-bench run, when one is given ---

    def test_shout_bench_self_compare_passes_and_20_percent_slower_fails(self):
        bench = os.environ.get("SHOUT_BENCH", "")
        if not bench:
            self.skipTest("SHOUT_BENCH is not set: give it the path of a built shout-bench "
                          "to gate a real run")
        out = os.path.join(self.tmp, "shout-bench.json")
        cmd = [bench, "--benchmark_repetitions=5", "--benchmark_display_aggregates_only=true",
               "--benchmark_min_time=0.05", f"--benchmark_out={out}", "--benchmark_out_format=json",
               *shlex.split(os.environ.get("SHOUT_BENCH_ARGS", SHOUT_BENCH_DEFAULT_ARGS))]
        print("running " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        proc = subprocess.run(cmd, timeout=SHOUT_BENCH_TIMEOUT, check=False)
        self.assertEqual(proc.returncode, 0, "shout-bench failed")
        with open(out, encoding="utf-8") as f:
            run = json.load(f)
        names = list(dict.fromkeys(row["name"] for row in run["benchmarks"]
                                   if row.get("run_type") != "aggregate"))
        self.assertTrue(names, f"shout-bench ran no benchmarks: {cmd}")

        self.gate(out, out, expect=0)

        # A benchmark whose repetitions spread less than 20% must be caught at x1.2;
        # one that spreads more may rightly not be significant, so it proves nothing.
        def separable(subset):
            return [n for n in subset if len(times(run, n)) >= 5 and min(times(run, n)) > 0
                    and max(times(run, n)) / min(times(run, n)) < 1.2]

        self.assertTrue(separable(names),
                        f"every benchmark spread 20% or more across repetitions: {names}")
        output = self.gate(out, scaled(run, 1.2), expect=1)
        for name in separable(names):
            self.assertIn(name, self.failures(output, "REGRESSION"), output)

        # End-to-end benchmarks report p50 and p99, each also as a row of its own.
        p99s = [n for n in names if n.endswith("/p99")]
        if not any(n.startswith("e2e/") for n in names):
            print(f"NOTE: no e2e/ benchmark in this run, so no p99 rows to gate: {names}")
            return
        self.assertTrue(p99s, "shout-bench wrote no <name>/p99 rows: tail latency would not "
                        f"be gated ({names})")
        proc = self.run_gate(out, self.write(scaled(run, 1.2, only=set(p99s))))
        output = proc.stdout
        for name in p99s:
            self.verdict(output, name)   # each p99 row has a verdict: gated as a benchmark
        self.assertEqual(set(self.failures(output, "REGRESSION")) - set(p99s), set(), output)
        if separable(p99s):
            self.assertEqual(proc.returncode, 1, output)
            for name in separable(p99s):
                self.assertIn(name, self.failures(output, "REGRESSION"), output)
        else:
            print(f"NOTE: every p99 row spread 20% or more across repetitions, so none is "
                  f"asserted caught: {p99s}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
