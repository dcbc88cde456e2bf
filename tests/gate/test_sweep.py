"""ci/bench-sweep (ci/bench --sweep), run tiny: structure, not speed.

A sweep of 3 very low rates (the closed-loop maximum given as 2000/s, so
200 to 2400 requests/s), 0.3 s a step, TCP and UDP, against the built shoutd
and shout (SHOUTD, SHOUT). It checks what the sweep writes: sweep.json with a
knee entry per protocol and every point's rates and percentiles, the table,
one result file per run, and a PNG. No assertion depends on how fast this
machine is: whether a knee is found, and where, is not asserted.
"""

import json
import os
import subprocess
import tempfile
import unittest

try:
    import jsonschema  # Debian's python3-jsonschema, which ci/test installs
except ImportError:
    jsonschema = None

HERE = os.path.dirname(os.path.abspath(__file__))
SWEEP = os.environ.get("BENCH_SWEEP") or os.path.join(HERE, "..", "..", "ci", "bench-sweep")
SWEEP_TIMEOUT = 300
DOCS = os.path.join(HERE, "..", "..", "docs")


def validate(path, schema_name):
    """The file against docs/SCHEMA_NAME (draft 2020-12)."""
    with open(os.path.join(DOCS, schema_name), encoding="utf-8") as f:
        schema = json.load(f)
    with open(path, encoding="utf-8") as f:
        jsonschema.Draft202012Validator(schema).validate(json.load(f))


class SweepTest(unittest.TestCase):

    def run_sweep(self, *args):
        return subprocess.run([SWEEP, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=SWEEP_TIMEOUT, check=False)

    def test_tiny_sweep_writes_knees_points_and_plot(self):
        shout, shoutd = os.environ.get("SHOUT"), os.environ.get("SHOUTD")
        if not shout or not shoutd:
            self.skipTest("SHOUT and SHOUTD must name the built binaries")
        with tempfile.TemporaryDirectory(prefix="sweep-test.") as out:
            proc = self.run_sweep("--shout", shout, "--shoutd", shoutd, "--out", out,
                                  "--steps", "3", "--seconds", "0.3", "--warmup", "0.1",
                                  "--max-rate", "2000", "--factor", "3")
            self.assertEqual(proc.returncode, 0, proc.stdout)
            self.assertIn("client on CPU 1", proc.stdout)
            with open(os.path.join(out, "sweep.json"), encoding="utf-8") as f:
                result = json.load(f)
            self.assertEqual(result["format"], 1)
            self.assertEqual((result["server_cpu"], result["client_cpu"]), (0, 1))
            self.assertEqual(result["factor"], 3)
            self.assertEqual(sorted(result["protocols"]), ["tcp", "udp"])
            for proto, side in result["protocols"].items():
                with self.subTest(proto=proto):
                    self.assertEqual(side["closed_loop_max_rps"], 2000)
                    self.assertFalse(side["max_measured"])
                    self.assertEqual(side["unloaded"]["offered_rps"], 40)
                    self.assertGreater(side["unloaded"]["p99_us"], 0)
                    reference = side["unloaded"]["runs_p99_us"]
                    self.assertEqual(len(reference), 3)
                    self.assertEqual(side["unloaded"]["p99_us"], sorted(reference)[1])
                    offered = [p["offered_rps"] for p in side["points"]]
                    self.assertEqual(offered, [200, 1300, 2400])
                    limit = 3 * side["unloaded"]["p99_us"]
                    for p in side["points"]:
                        for key in ("achieved_rps", "p50_us", "p99_us", "p99_9_us"):
                            self.assertGreater(p[key], 0, (key, p))
                        self.assertLessEqual(p["p50_us"], p["p99_us"])
                        self.assertLessEqual(p["p99_us"], p["p99_9_us"])
                        self.assertEqual(p["kept_up"],
                                         p["achieved_rps"] >= 0.95 * p["offered_rps"])
                        self.assertEqual(p["within_limit"],
                                         p["kept_up"] and p["p99_us"] <= limit)
                    self.assertIn("knee", side)
                    within = [p for p in side["points"] if p["within_limit"]]
                    if side["knee"] is None:
                        self.assertEqual(within, [])
                    else:
                        self.assertEqual(side["knee"]["offered_rps"],
                                         max(p["offered_rps"] for p in within))
                        self.assertAlmostEqual(side["knee"]["p99_limit_us"], limit)
            runs = sorted(os.listdir(os.path.join(out, "json")))
            self.assertEqual(len(runs), 2 * (3 + 3), runs)   # 3 unloaded runs and 3 steps
            with open(os.path.join(out, "sweep.png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            with open(os.path.join(out, "sweep.md"), encoding="utf-8") as f:
                table = f.read()
            self.assertIn("## TCP: knee", table)
            self.assertIn("## UDP: knee", table)
            # Every file the sweep writes holds to its schema: each run is a shout load result.
            if jsonschema is None:
                self.skipTest("python3-jsonschema is not installed")
            validate(os.path.join(out, "sweep.json"), "sweep.schema.json")
            for run in runs:
                validate(os.path.join(out, "json", run), "result.schema.json")

    def test_bad_options_exit_2_with_one_line(self):
        for args in (["--steps", "0"], ["--steps", "1000"], ["--protocols", "sctp"],
                     ["--from", "0.9", "--to", "0.1"], ["--seconds", "abc"]):
            with self.subTest(args=args):
                proc = self.run_sweep("--shout", "/bin/true", "--shoutd", "/bin/true", *args)
                self.assertEqual(proc.returncode, 2, proc.stdout)
                self.assertIn("ci/bench-sweep: error:", proc.stdout)

    def test_help_says_where_it_runs_and_what_it_writes(self):
        proc = self.run_sweep("--help")
        self.assertEqual(proc.returncode, 0, proc.stdout)
        for phrase in ("--factor", "--steps", "sweep.json", "sweep.png", "CPU", "loopback"):
            self.assertIn(phrase, proc.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
