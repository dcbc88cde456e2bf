"""shoutd's command line: bad options fail loudly, --help and --version work."""

import os
import re
import socket
import unittest

from shoutlib import SHOUTD, Server, connect, recv_exact, run_program

BAD_OPTIONS = (
    ("--port", "70000"),
    ("--port", "-1"),
    ("--port", "abc"),
    ("--port",),
    ("--max-frame", "abc"),
    ("--max-frame", "-5"),
    ("--listen", "not/an-address"),
    ("--listen", "-x"),
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
    ("--write-timeout", "10x"),
    ("--grace", "0.5"),
    ("--grace", "2h"),
    ("--max-frame", "0.1K"),
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


class OptionMessagesTest(unittest.TestCase):
    """Each refusal is one line, prefixed 'shoutd: ', with exit status 2."""

    def refused(self, *args):
        result = run_program(SHOUTD, *args)
        self.assertEqual(result.returncode, 2, result.stderr)
        lines = result.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("shoutd: "), lines)
        return lines[0]

    def test_every_bad_option_is_one_prefixed_line(self):
        for args in BAD_OPTIONS:
            with self.subTest(args=args):
                self.refused(*args)

    def test_grace_says_it_wants_whole_seconds(self):
        self.assertIn("whole seconds", self.refused("--grace", "0.5"))

    def test_no_stats_with_a_stats_port_is_a_contradiction(self):
        line = self.refused("--no-stats", "--stats-port", "5")
        self.assertIn("--no-stats", line)
        self.assertIn("--stats-port", line)

    def test_per_source_cap_above_the_total_is_a_contradiction(self):
        line = self.refused("--max-conns", "10", "--max-conns-per-ip", "11")
        self.assertIn("--max-conns-per-ip 11 is above --max-conns 10", line)

    def test_one_listen_address_twice_is_a_duplicate(self):
        self.assertIn("twice", self.refused("--listen", "127.0.0.1", "--listen", "127.0.0.1"))
        self.assertIn("twice", self.refused("--listen", "::1", "--listen", "[::1]"))

    def test_a_name_that_resolves_to_a_listed_address_is_a_duplicate(self):
        line = self.refused("--port", "0", "--listen", "127.0.0.1", "--listen", "localhost")
        self.assertIn("localhost gives 127.0.0.1, which is listed already", line)


class OptionValuesTest(unittest.TestCase):
    """Durations, sizes and host names that shoutd takes, as a running server shows."""

    def start(self, *args):
        server = Server(*args)
        self.addCleanup(server.close)
        return server

    def test_durations_and_sizes_take_unit_suffixes(self):
        server = self.start("--no-stats", "--frame-timeout", "10s", "--idle-timeout", "2m",
                            "--write-timeout", "2000ms", "--grace", "1s", "--max-frame", "64KiB")
        with connect(server.port) as sock:
            sock.sendall(b"units")
            self.assertEqual(recv_exact(sock, 5), b"UNITS")
        self.assertEqual(server.stop(), 0, server.stderr_text())

    def test_listen_takes_a_host_name(self):
        server = self.start("--no-stats", "--listen", "localhost")
        with connect(server.port) as sock:
            sock.sendall(b"name")
            self.assertEqual(recv_exact(sock, 4), b"NAME")
        self.assertEqual(server.stop(), 0)
        self.assertIn("127.0.0.1", server.stderr_text())

    def test_short_options_follow_iperf3(self):
        server = self.start("--no-stats", "-B", "127.0.0.1")
        self.assertEqual(server.stop(), 0)
        result = run_program(SHOUTD, "-v")
        self.assertEqual(result.returncode, 0)
        self.assertTrue(result.stdout.startswith(b"shoutd "))


class StatsPortTakenTest(unittest.TestCase):
    """A taken port + 1 is named as the stats port, with the flags that avoid it."""

    def test_message_names_the_stats_port_and_its_flags(self):
        for _ in range(20):
            with socket.socket() as main, socket.socket() as stats:
                main.bind(("127.0.0.1", 0))
                port = main.getsockname()[1]
                if port == 65535:
                    continue
                try:
                    stats.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                stats.listen()
                main.close()
                result = run_program(SHOUTD, "--port", str(port))
                break
        else:
            self.skipTest("found no free pair of ports")
        self.assertEqual(result.returncode, 1, result.stderr)
        text = result.stderr.decode()
        self.assertIn(f"port {port + 1}, the stats port", text)
        self.assertIn("--stats-port", text)
        self.assertIn("--no-stats", text)


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
