"""shoutd's command line: bad options fail loudly, --help and --version work."""

import re
import unittest

from shoutlib import SHOUTD, run_program

BAD_OPTIONS = (
    ("--port", "70000"),
    ("--port", "-1"),
    ("--port", "abc"),
    ("--port",),
    ("--max-frame", "abc"),
    ("--max-frame", "-5"),
    ("--listen", "not-an-address"),
    ("--listen", "256.0.0.1"),
    ("--max-output", "0"),
    ("--max-output", "2G"),
    ("--frame-timeout", "-1"),
    ("--frame-timeout", "1.5"),
    ("--idle-timeout", "86401"),
    ("--write-timeout", "10s"),
    ("--backlog", "0"),
    ("--backlog", "65536"),
    ("--ipv6-prefix", "0"),
    ("--ipv6-prefix", "129"),
    ("--ipv6-prefix", "-1"),
    ("--ipv6-prefix", "64k"),
    ("--ipv6-prefix", "/64"),
    ("--ipv6-prefix",),
    ("--user", ""),
    ("--user", "x" * 64),
    ("--no-such-option",),
    ("stray-argument",),
)


class OptionsTest(unittest.TestCase):

    def test_bad_options_exit_nonzero_with_a_message(self):
        for args in BAD_OPTIONS:
            with self.subTest(args=args):
                result = run_program(SHOUTD, *args)
                self.assertNotEqual(result.returncode, 0)
                self.assertGreater(result.returncode, 0, "killed by a signal")
                self.assertNotEqual(result.stderr.strip(), b"")

    def test_help_exits_0_and_mentions_every_option(self):
        result = run_program(SHOUTD, "--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        for option in (b"--listen", b"--port", b"--max-frame", b"--stats-port",
                       b"--stats-listen", b"--no-stats", b"--sockperf-port", b"--cpu",
                       b"--udp-rate-per-ip", b"--udp-rate-burst", b"--udp-rate-loopback",
                       b"--udp-rate", b"--max-conns", b"--max-conns-per-ip", b"--ipv6-prefix",
                       b"--max-output",
                       b"--frame-timeout", b"--idle-timeout", b"--write-timeout", b"--backlog",
                       b"--user", b"--no-sandbox", b"--grace", b"--help", b"--version"):
            self.assertIn(option, result.stdout)

    def test_version_exits_0_and_prints_a_version(self):
        result = run_program(SHOUTD, "--version")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout.decode(), re.compile(r"\d+\.\d+\.\d+"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
