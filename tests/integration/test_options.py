"""shoutd's command line: bad options fail loudly, --help and --version work."""

import os
import re
import unittest

from shoutlib import SHOUTD, Server, run_program

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
    ("--max-buffered", "0"),
    ("--max-buffered", "1025G"),
    ("--max-buffered", "64T"),
    ("--max-buffered-per-ip", "-1"),
    ("--max-buffered-per-ip", "1025G"),
    ("--port", "1G"),
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
                       b"--max-output", b"--max-buffered", b"--max-buffered-per-ip",
                       b"--frame-timeout", b"--idle-timeout", b"--write-timeout", b"--backlog",
                       b"--user", b"--no-sandbox", b"--grace", b"--help", b"--version"):
            self.assertIn(option, result.stdout)

    def test_version_exits_0_and_prints_a_version(self):
        result = run_program(SHOUTD, "--version")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout.decode(), re.compile(r"\d+\.\d+\.\d+"))


def cgroup_memory_max():
    """The smallest memory.max from this process's cgroup v2 up to the root
    (shoutd, started by this process, is in the same cgroup); None if none."""
    try:
        with open("/proc/self/cgroup") as cgroup:
            lines = [line.strip() for line in cgroup if line.startswith("0::")]
    except OSError:
        return None
    if not lines:
        return None
    path = lines[0][3:]
    smallest = None
    while True:
        try:
            with open(f"/sys/fs/cgroup{'' if path == '/' else path}/memory.max") as limit:
                text = limit.read().strip()
            if text != "max" and (smallest is None or int(text) < smallest):
                smallest = int(text)
        except OSError:
            pass
        if path == "/":
            return smallest
        path = path.rsplit("/", 1)[0] or "/"


class MemoryBudgetLogTest(unittest.TestCase):
    """At start shoutd says what bounds its buffers and where the figure came from."""

    def start_log(self, *args):
        server = Server("--no-stats", *args)
        try:
            self.assertEqual(server.stop(), 0)
            return server.stderr_text()
        finally:
            server.close()

    def test_the_flags_are_logged_as_given(self):
        log = self.start_log("--max-buffered", "64M", "--max-buffered-per-ip", "0")
        self.assertIn("connection buffers held at most 64 MiB (--max-buffered), "
                      "no per source address", log)
        log = self.start_log("--max-buffered", "1G")
        self.assertIn("at most 1024 MiB (--max-buffered), 256 MiB per source address", log)

    def test_the_default_is_half_the_cgroup_limit_or_a_quarter_of_memory(self):
        limit = cgroup_memory_max()
        if limit is not None:
            budget, why = limit // 2, "half of the cgroup's memory.max"
        else:
            budget = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGESIZE") // 4
            why = "a quarter of the machine's"
        log = self.start_log()
        self.assertIn(f"connection buffers held at most {budget // (1024 * 1024)} MiB ({why}",
                      log)
        self.assertIn(f"{budget // 4 // (1024 * 1024)} MiB per source address", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
