"""shout's progress lines and interval series, end to end: with stderr a
pipe (not a terminal) the lines are plain, newline-ended, start with the
warm-up line, end at the run's full length; --quiet prints none; and the
JSON's results.intervals adds up to the run's totals. No timing assertions
beyond counts within generous bounds: CI machines are slow and shared."""

import re
import unittest

from shoutlib import ServerTestCase
from test_ping import run_measure

# "0.00-0.50s   12345   31.0us   45.5us   0   0": one interval's line.
LINE = re.compile(rb"^(\d+\.\d\d)-(\d+\.\d\d)s +(\d+) +(\S+) +(\S+) +(\d+) +(\d+)$")


class ProgressTest(ServerTestCase):
    def progress_lines(self, stderr):
        self.assertNotIn(b"\r", stderr)
        return [LINE.match(l) for l in stderr.splitlines() if LINE.match(l)]

    def check_run(self, command, *args):
        proc, result = run_measure(self, command, self.server.port, "--duration", "1.5",
                                   "--warmup", "0.2", "--interval", "0.25",
                                   "--no-server-stats", *args)
        err = proc.stderr
        self.assertTrue(err.startswith(b"warming up for 0.2s (not measured)\n"), err)
        self.assertIn(b"replies/s", err)
        lines = self.progress_lines(err)
        # 1.5 s in 0.25 s steps: 6 lines; a loop that overran may merge some.
        self.assertTrue(2 <= len(lines) <= 7, err)
        # The last line ends at the run's full length, not the last tick before it.
        self.assertAlmostEqual(float(lines[-1].group(2)), 1.5, delta=0.2, msg=err)
        self.assertEqual(lines[0].group(1), b"0.00")
        series = result["results"]["intervals"]
        self.assertEqual(len(series), len(lines))
        counts = result["results"]["counts"]
        self.assertEqual(sum(e["replies"] for e in series), counts["received"])
        self.assertEqual(sum(e["errors"] for e in series), 0)
        self.assertAlmostEqual(series[-1]["t_s"], result["results"]["elapsed_s"], delta=0.05)
        for e in series:
            self.assertGreater(e["replies"], 0, series)
            self.assertLessEqual(e["p50_us"], e["p99_us"])
        return series

    def test_ping_prints_plain_interval_lines_and_records_them(self):
        self.check_run("ping")

    def test_load_prints_plain_interval_lines_and_records_them(self):
        self.check_run("load", "--connections", "4", "--threads", "2")

    def test_udp_load_counts_loss_per_interval(self):
        series = self.check_run("load", "--udp", "--connections", "2")
        self.assertTrue(all(e["lost"] == 0 for e in series), series)

    def test_quiet_prints_nothing_but_keeps_the_series(self):
        for command in ("ping", "load"):
            proc, result = run_measure(self, command, self.server.port, "--duration", "2.5",
                                       "--warmup", "0.2", "--interval", "0.5", "--quiet",
                                       "--no-server-stats")
            self.assertEqual(proc.stderr, b"")
            self.assertTrue(4 <= len(result["results"]["intervals"]) <= 6, result)

    def test_a_pipe_gets_no_lines_without_asking(self):
        """Not a terminal and no --progress or --interval: logs stay as they were."""
        proc, result = run_measure(self, "ping", self.server.port, "--duration", "0.5",
                                   "--warmup", "0.1", "--no-server-stats")
        self.assertEqual(proc.stderr, b"")
        self.assertTrue(1 <= len(result["results"]["intervals"]) <= 2, result)

    def test_interval_refuses_nonsense(self):
        for bad in ("0", "-1", "abc", "0.001"):
            proc, _ = run_measure(self, "ping", self.server.port, "--interval", bad,
                                  expect=2)
            self.assertIn(b"interval", proc.stderr)


if __name__ == "__main__":
    unittest.main()
