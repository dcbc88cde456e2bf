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

fixtures/tail/base and fixtures/tail/new are real shout result files: ten
`shout ping --framed --duration 1 --warmup 0.2` runs (release build, TCP,
64 B, shoutd on CPU 0, client on CPU 1, loopback), base and new interleaved,
on a shared 2-CPU machine while others built; rewritten compactly by Python's
json module. The tail gate reads their histograms; its doctored copies are
made here, at run time, by moving every sample to 1.2 times its value.
fixtures/tail/bench holds shout-bench's histogram files of five repetitions
of e2e/tcp/64/pingpong/framed (SHOUT_BENCH_HISTOGRAMS, dev build, client and
shoutd on CPU 0, --benchmark_min_time=0.1), rewritten compactly the same way.

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
TAIL_BASE = os.path.join(FIXTURES, "tail", "base")
TAIL_NEW = os.path.join(FIXTURES, "tail", "new")
TAIL_P99 = "ping/tcp/framed/64/p99"
TAIL_BENCH = os.path.join(FIXTURES, "tail", "bench")
TAIL_BENCH_P99 = "e2e/tcp/64/pingpong/framed/manual_time/p99"


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


def shout_bucket_low(value):
    """shout's histogram layout (docs/results.md, "JSON output"): a bucket per value under
    256 ns, above that 128 buckets per power of two."""
    value = int(value)
    if value < 256:
        return value
    width = 1 << (value.bit_length() - 1 - 7)
    return value - value % width


def shout_bucket_width(low):
    return 1 if low < 256 else 1 << (low.bit_length() - 1 - 7)


def tail_results(directory):
    docs = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            docs.append(json.load(f))
    return docs


def slowed(doc, factor):
    """A shout result whose every latency sample is factor times as long: each
    bucket's samples moved to the bucket of factor x its midpoint."""
    doc = copy.deepcopy(doc)
    latency = doc["results"]["latency"]
    buckets = {}
    for low, count in latency["buckets"]:
        target = shout_bucket_low((low + (shout_bucket_width(low) - 1) / 2) * factor)
        buckets[target] = buckets.get(target, 0) + count
    latency["buckets"] = [[low, count] for low, count in sorted(buckets.items())]
    for key in ("min", "max", "p50", "p90", "p99", "p99_9", "p99_99"):
        latency[key] = int(latency[key] * factor)
    for key in ("mean", "stdev", "sum_ns"):
        latency[key] *= factor
    latency["m2_ns"] *= factor * factor
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
        self.gate(base, scaled(base, 1.2), "--threshold=0.25", expect=0)
        self.gate(base, scaled(base, 1.2), "--threshold=15%", expect=1)
        self.gate(base, scaled(base, 1.2), "--threshold", "0.15", expect=1)

    def test_threshold_as_fraction_means_the_same_as_percent(self):
        # 6% slower without repetitions: 0.05 and 5% both fail it, 0.07 and 7% both pass.
        base = fixture("single.json")
        for spelled in ("5%", "0.05", "5.0%", ".05"):
            with self.subTest(threshold=spelled):
                output = self.gate(base, scaled(base, 1.06), "--threshold", spelled, expect=1)
                self.assertIn("threshold +5.0%", output)
        for spelled in ("7%", "0.07"):
            with self.subTest(threshold=spelled):
                self.gate(base, scaled(base, 1.06), "--threshold", spelled, expect=0)

    def test_bad_threshold_is_the_scripts_own_usage_error(self):
        good = os.path.join(FIXTURES, "single.json")
        for spelled in ("-5%", "-0.05", "5", "15", "abc", "", "nan", "5%%", "inf%"):
            with self.subTest(threshold=spelled):
                for args in (["--threshold", spelled], [f"--threshold={spelled}"]):
                    proc = self.run_gate(good, good, *args)
                    self.assertEqual(proc.returncode, 2, proc.stdout)
                    lines = proc.stdout.strip().splitlines()
                    self.assertTrue(lines[-1].startswith("ci/bench-compare: error: --threshold "),
                                    proc.stdout)
                    self.assertIn("write 5% or 0.05" if spelled not in ("5", "15") else
                                  f"write {spelled}% for {spelled} percent", lines[-1])
                    self.assertNotIn("argument --threshold", proc.stdout)   # not argparse's

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
        # Where the tail gate's input comes from, shout-bench's included.
        for phrase in ("shout ping|load --json FILE", "SHOUT_BENCH_HISTOGRAMS=DIR",
                       "shout-bench histogram files"):
            self.assertIn(phrase, proc.stdout)

    # --- the tail gate: p99 of merged histograms, bootstrap interval ---

    def write_results(self, docs, name):
        directory = os.path.join(self.tmp, name)
        os.makedirs(directory)
        for i, doc in enumerate(docs):
            with open(os.path.join(directory, f"rep{i}.json"), "w", encoding="utf-8") as f:
                json.dump(doc, f)
        return directory

    def test_tail_runs_of_the_same_build_pass(self):
        output = self.gate(TAIL_BASE, TAIL_NEW, expect=0)
        line = self.verdict(output, TAIL_P99)
        self.assertIn("merged 5 vs 5 repetitions", line)
        self.assertIn("95% bootstrap CI of the ratio [", line)
        self.assertIn("(2000 resamples, seed 1)", line)
        self.assertIn("PASS", output)
        # Either way round: the interval holds 1 both ways.
        self.gate(TAIL_NEW, TAIL_BASE, expect=0)

    def test_tail_every_repetition_20_percent_slower_fails(self):
        for side in (TAIL_BASE, TAIL_NEW):
            with self.subTest(base=side):
                doctored = self.write_results([slowed(d, 1.2) for d in tail_results(side)],
                                              f"slow-{os.path.basename(side)}")
                output = self.gate(side, doctored, expect=1)
                self.assertEqual(self.failures(output, "REGRESSION"), [TAIL_P99], output)
                self.assertRegex(self.verdict(output, TAIL_P99), r"\(\+(19|20|21)\.\d%\)")
                # Against the other build's runs too: not only a copy of itself.
                other = TAIL_NEW if side == TAIL_BASE else TAIL_BASE
                self.gate(other, doctored, expect=1)
                # Faster is not a regression.
                self.gate(doctored, side, expect=0)

    def test_tail_verdict_is_the_same_every_time_and_follows_the_seed(self):
        first = self.gate(TAIL_BASE, TAIL_NEW, expect=0)
        again = self.gate(TAIL_BASE, TAIL_NEW, expect=0)
        self.assertEqual(self.verdict(first, TAIL_P99), self.verdict(again, TAIL_P99))
        other = self.gate(TAIL_BASE, TAIL_NEW, "--seed", "7", expect=0)
        self.assertIn("seed 7", self.verdict(other, TAIL_P99))

    def test_tail_threshold_decides_with_the_interval(self):
        doctored = self.write_results([slowed(d, 1.2) for d in tail_results(TAIL_BASE)], "slow")
        self.gate(TAIL_BASE, doctored, "--threshold", "25%", expect=0)
        self.gate(TAIL_BASE, doctored, "--threshold", "0.25", expect=0)
        self.gate(TAIL_BASE, doctored, "--threshold", "0.10", expect=1)

    def test_tail_fewer_than_five_repetitions_use_plain_ratio(self):
        docs = tail_results(TAIL_BASE)[:3]
        three = self.write_results(docs, "three")
        output = self.gate(three, self.write_results([slowed(d, 1.2) for d in docs], "slow"),
                           expect=1)
        self.assertIn("fewer than 5 repetitions a side: plain ratio of merged p99, "
                      "no confidence interval", self.verdict(output, TAIL_P99))
        self.gate(three, self.write_results([slowed(d, 1.02) for d in docs], "bit"), expect=0)
        # One file a side is accepted as a side of one repetition.
        one = os.path.join(TAIL_BASE, sorted(os.listdir(TAIL_BASE))[0])
        self.gate(one, one, expect=0)

    def test_tail_reads_files_tolerantly(self):
        # Fields it does not know (a format version, a run id), and integers written
        # as floats, change nothing.
        docs = tail_results(TAIL_NEW)
        for i, doc in enumerate(docs):
            doc["format"] = 1
            doc["id"] = f"run-{i}"
            doc["results"]["latency"]["buckets"] = [[float(low), float(count)] for low, count
                                                    in doc["results"]["latency"]["buckets"]]
            doc["results"]["latency"]["future_field"] = {"x": 1}
        plain = self.gate(TAIL_BASE, TAIL_NEW, expect=0)
        tolerant = self.gate(TAIL_BASE, self.write_results(docs, "tolerant"), expect=0)
        self.assertEqual(self.verdict(plain, TAIL_P99), self.verdict(tolerant, TAIL_P99))

    def test_tail_same_run_twice_on_one_side_exits_2(self):
        docs = tail_results(TAIL_NEW)
        for i, doc in enumerate(docs):
            doc["run_id"] = f"{i:016x}"
            doc["run_ids"] = [doc["run_id"]]
        self.gate(TAIL_BASE, self.write_results(docs, "ids"), expect=0)
        docs[4] = copy.deepcopy(docs[0])
        output = self.gate(TAIL_BASE, self.write_results(docs, "twice"), expect=2)
        self.assertIn("the same run (run id 0000000000000000)", output)

    def test_tail_missing_configuration_fails(self):
        docs = tail_results(TAIL_NEW)
        for doc in docs:
            doc["config"]["udp"] = True
        output = self.gate(TAIL_BASE, self.write_results(docs, "udp"), expect=1)
        self.assertEqual(self.failures(output, "MISSING"), [TAIL_P99], output)
        self.assertIn("in NEW only, not gated", self.verdict(output, "ping/udp/framed/64/p99"))

    def test_tail_bad_input_exits_2(self):
        good = tail_results(TAIL_BASE)[0]
        broken = copy.deepcopy(good)
        broken["results"]["latency"]["count"] += 1
        no_histogram = copy.deepcopy(good)
        del no_histogram["results"]["latency"]["buckets"]
        empty_dir = os.path.join(self.tmp, "empty")
        os.makedirs(empty_dir)
        cases = {
            "count differs from buckets": (self.write_results([broken], "broken"), "count"),
            "no buckets": (self.write_results([no_histogram], "nohist"), "buckets"),
            "no json files": (empty_dir, "without *.json"),
            "mixed kinds": (os.path.join(FIXTURES, "single.json"), "different kinds"),
        }
        for what, (path, phrase) in cases.items():
            with self.subTest(what):
                output = self.gate(TAIL_BASE, path, expect=2)
                self.assertIn(phrase, output)

    def test_tail_shout_bench_histograms_are_gated_by_their_benchmark_name(self):
        docs = tail_results(TAIL_BENCH)
        self.assertEqual(len(docs), 5)
        output = self.gate(TAIL_BENCH, TAIL_BENCH, expect=0)
        self.assertIn("merged 5 vs 5 repetitions", self.verdict(output, TAIL_BENCH_P99))
        # A tenth of a second's p99 spreads widely between repetitions: three a side
        # (plain ratio) catch every sample 1.3 times as long, the bootstrap over five
        # needs twice as long to hold 1 out of its interval.
        three = self.write_results(docs[:3], "three")
        output = self.gate(three, self.write_results([slowed(d, 1.3) for d in docs[:3]], "x1.3"),
                           expect=1)
        self.assertEqual(self.failures(output, "REGRESSION"), [TAIL_BENCH_P99], output)
        self.assertRegex(self.verdict(output, TAIL_BENCH_P99), r"\(\+(29|30|31)\.\d%\)")
        output = self.gate(TAIL_BENCH, self.write_results([slowed(d, 2) for d in docs], "x2"),
                           expect=1)
        self.assertEqual(self.failures(output, "REGRESSION"), [TAIL_BENCH_P99], output)
        self.assertIn("bootstrap CI of the ratio", self.verdict(output, TAIL_BENCH_P99))
        # Beside shout's own results, each is its own benchmark.
        mixed = self.write_results(tail_results(TAIL_BASE) + docs, "mixed")
        output = self.gate(mixed, mixed, expect=0)
        self.verdict(output, TAIL_P99)
        self.verdict(output, TAIL_BENCH_P99)

    def test_tail_shout_bench_file_without_a_name_or_foreign_json_exits_2(self):
        unnamed = tail_results(TAIL_BENCH)[0]
        del unnamed["benchmark"]
        output = self.gate(TAIL_BENCH, self.write_results([unnamed], "unnamed"), expect=2)
        self.assertIn('a shout-bench histogram file without its "benchmark" name', output)
        output = self.gate(TAIL_BENCH, self.write_results([{"benchmarks": []}], "foreign"),
                           expect=2)
        self.assertIn("is neither a shout result file nor a shout-bench histogram file", output)

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
