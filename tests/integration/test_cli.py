"""shout's command line as a user meets it: per-subcommand --help made from
one option table, short options in each subcommand's peer's style, one-line
messages with the "shout: " prefix, contradictions refused or warned about,
merge reading standard input, and a quiet exit when standard output closes.
Every run is on loopback and ends by --count, never by the clock."""

import json
import re
import os
import subprocess
import tempfile
import threading
import unittest

from shoutlib import (SHOUT, TIMEOUT, Server, SharedServerTestCase, have_ipv6_loopback,
                      run_program)

EXIT_OK, EXIT_LOCAL, EXIT_USAGE, EXIT_STDOUT_CLOSED = 0, 1, 2, 141


def shout(*args, stdin=b""):
    return run_program(SHOUT, *args, stdin=stdin)


def one_line_error(test, result, status, *words):
    """The run exits `status` with exactly one stderr line, "shout: ...", containing words."""
    err = result.stderr.decode()
    test.assertEqual(result.returncode, status, err)
    test.assertEqual(err.count("\n"), 1, err)
    test.assertTrue(err.startswith("shout: ") and err.endswith("\n"), err)
    for word in words:
        test.assertIn(word, err)


def help_defaults(text):
    """{option: default} from --help lines like "  -c, --connections N  ... (1-100000; default: 1)"."""
    defaults, option = {}, None
    for line in text.splitlines():
        m = re.match(r"  (?:-\S, )?\s*--([a-z-]+)", line)
        if m:
            option = m.group(1)
        m = re.search(r"default: ([^)]*)\)", line)
        if m and option:
            defaults[option] = m.group(1)
    return defaults


class HelpTest(unittest.TestCase):

    def help(self, cmd):
        result = shout(cmd, "--help")
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        return result.stdout.decode()

    def test_each_subcommand_lists_only_its_own_options_with_examples(self):
        for cmd, has, lacks, peer in (
                ("send", ("-w, --timeout", "-u, --udp", "-4, --ipv4"), ("--connections", "--count"),
                 "nc(1)"),
                ("ping", ("-c, --count", "-s, --size", "-t, --duration", "-W, --timeout",
                          "--sockperf"), ("--connections", "--threads", "--rate"), "ping(8)"),
                ("load", ("-c, --connections", "-t, --threads", "-d, --duration", "-R, --rate",
                          "-p, --port"), ("--sockperf", "-c, --count"), "wrk")):
            with self.subTest(cmd=cmd):
                text = self.help(cmd)
                self.assertTrue(text.startswith(f"Usage: shout {cmd} "), text)
                for option in has:
                    self.assertIn(option, text)
                for option in lacks:
                    self.assertNotIn(option, text)
                self.assertIn("Examples:", text)
                self.assertIn(peer, text)
                self.assertLess(len(text.splitlines()), 70)
                for line in text.splitlines():
                    self.assertLessEqual(len(line), 80, line)

    def test_merge_help_names_standard_input(self):
        text = self.help("merge")
        self.assertIn("FILE - is standard input", text)
        self.assertIn("Examples:", text)

    def test_global_help_points_at_the_subcommands_and_lists_exit_statuses(self):
        text = shout("--help").stdout.decode()
        self.assertIn("shout load --help", text)
        self.assertIn("141", text)

    def test_version_works_after_a_subcommand(self):
        for cmd in ("send", "ping", "load"):
            with self.subTest(cmd=cmd):
                result = shout(cmd, "--version")
                self.assertEqual(result.returncode, EXIT_OK, result.stderr)
                self.assertTrue(result.stdout.startswith(b"shout "), result.stdout)


class AgainstServerTest(SharedServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.port = str(cls.server.port)

    def run_json(self, cmd, *args):
        result = shout(cmd, "-p", self.port, "--warmup", "0", "--json", "-", *args)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        return json.loads(result.stdout), result.stderr.decode()

    def test_the_defaults_help_prints_are_the_ones_a_run_uses(self):
        defaults = help_defaults(shout("load", "--help").stdout.decode())
        run, _ = self.run_json("load", "--count", "10")
        config = run["config"]
        for option in ("size", "connections", "threads", "pipeline"):
            with self.subTest(option=option):
                self.assertEqual(str(config[option]), defaults[option])
        self.assertEqual(defaults["port"], "7680")
        self.assertEqual(float(defaults["warmup"]), 1.0)

    def test_send_short_options_follow_nc(self):
        for args in (("-u",), ("-4", "--host", "localhost"), ("-w", "2"), ("-w", "500ms")):
            with self.subTest(args=args):
                result = shout("send", "-p", self.port, *args, "hello")
                self.assertEqual((result.returncode, result.stdout), (EXIT_OK, b"HELLO\n"),
                                 result.stderr)

    def test_ping_short_options_follow_ping_and_iperf3(self):
        run, _ = self.run_json("ping", "-u", "-c", "5", "-s", "1K", "-W", "2s")
        config = run["config"]
        self.assertEqual((config["udp"], config["count"], config["size"], config["timeout_s"]),
                         (True, 5, 1024, 2.0))

    def test_load_short_options_follow_wrk(self):
        run, _ = self.run_json("load", "-c", "3", "-t", "3", "-R", "10k", "--count", "30")
        config = run["config"]
        self.assertEqual((config["connections"], config["threads"], config["rate"]),
                         (3, 3, 10000.0))

    def test_a_size_means_the_same_bytes_to_shout_and_shoutd(self):
        # One parser (lib/units) for both: `shout -s 64k` once failed where
        # `shoutd --max-frame 64k` worked. Binary everywhere: k is 1024.
        for spelling in ("64k", "64K", "64KiB", "65536"):
            with self.subTest(size=spelling):
                run, _ = self.run_json("ping", "-c", "1", "-s", spelling)
                self.assertEqual(run["config"]["size"], 65536)
                server = Server("--no-stats", "--max-frame", spelling)
                self.assertEqual(server.stop(), 0)
                self.assertIn("(max frame 65536 bytes)", server.stderr_text())
                server.close()

    def test_threads_above_connections_are_clamped_and_reported_as_run(self):
        run, err = self.run_json("load", "--threads", "4", "--connections", "2", "--count", "20")
        self.assertEqual(run["config"]["threads"], 2)
        self.assertIn("running 2 threads", err)

    def test_stats_port_with_no_server_stats_is_warned_about(self):
        run, err = self.run_json("ping", "--count", "3", "--stats-port", "9", "--no-server-stats")
        self.assertIn("--no-server-stats wins", err)
        self.assertEqual(run["config"]["stats_port"], 0)

    def test_merge_reads_one_file_from_standard_input(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "a.json")
            result = shout("ping", "-p", self.port, "--warmup", "0", "-c", "5", "--json", path)
            self.assertEqual(result.returncode, EXIT_OK, result.stderr)
            with open(path, "rb") as f:
                data = f.read()
        result = shout("merge", "-", "--json", "-", stdin=data)
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(json.loads(result.stdout)["config"]["count"], 5)
        one_line_error(self, shout("merge", "-", "-", stdin=data), EXIT_USAGE, "once")

    def test_send_stops_quietly_when_its_reader_goes_away(self):
        # 3 MB of lines: far more replies than a pipe holds, so shout is still
        # writing when the reader closes, whatever the timing.
        lines = (b"a" * 99 + b"\n") * 30000
        proc = subprocess.Popen([SHOUT, "send", "-p", self.port], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        writer = threading.Thread(target=self.feed, args=(proc.stdin, lines))
        writer.start()
        self.assertEqual(proc.stdout.read(5), b"AAAAA")
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(TIMEOUT)
        writer.join(TIMEOUT)
        self.assertEqual((proc.returncode, err), (EXIT_STDOUT_CLOSED, b""))

    @staticmethod
    def feed(pipe, data):
        try:
            pipe.write(data)
            pipe.close()
        except BrokenPipeError:
            pass  # shout stopped reading, as it should once stdout closed


@unittest.skipUnless(have_ipv6_loopback(), "no IPv6 loopback")
class AddressFamilyTest(unittest.TestCase):
    """-4 and -6 keep the addresses of one family: against a shoutd on ::1
    only, -6 reaches it with or without --host ::1, and an address of the
    other family is refused before any lookup."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server("--listen", "::1")
        cls.port = str(cls.server.port)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.close()

    def test_ipv6_only_reaches_an_ipv6_server(self):
        for cmd in (("send", "hi"), ("ping", "--warmup", "0", "-c", "3")):
            with self.subTest(cmd=cmd[0]):
                result = shout(cmd[0], "-6", "--host", "::1", "-p", self.port, *cmd[1:])
                self.assertEqual(result.returncode, EXIT_OK, result.stderr)

    def test_ipv6_only_with_no_host_means_ipv6_loopback(self):
        for cmd in (("send", "hi"), ("ping", "--warmup", "0", "-c", "3")):
            with self.subTest(cmd=cmd[0]):
                result = shout(cmd[0], "-6", "-p", self.port, *cmd[1:])
                self.assertEqual(result.returncode, EXIT_OK, result.stderr)

    def test_an_address_of_the_other_family_is_a_usage_error(self):
        for cmd in ("send", "ping", "load"):
            for flag, host, family in (("-4", "::1", "IPv6"), ("-6", "127.0.0.1", "IPv4")):
                with self.subTest(cmd=cmd, flag=flag):
                    # The flag after --host too: the check waits for the whole line.
                    result = shout(cmd, "--host", host, flag, "-p", self.port)
                    one_line_error(self, result, EXIT_USAGE, flag, host, family)


class MessageTest(unittest.TestCase):

    def test_options_before_the_subcommand_are_named_as_such(self):
        one_line_error(self, shout("--port", "5", "send", "x"), EXIT_USAGE,
                       "options come after the subcommand", "shout send --port")
        one_line_error(self, shout("-c", "4", "load", "send"), EXIT_USAGE,
                       "options come after the subcommand", "shout load -c")
        one_line_error(self, shout("--bogus", "send"), EXIT_USAGE, "unknown option '--bogus'")

    def test_a_host_with_a_port_or_brackets_is_a_usage_error(self):
        for cmd in ("send", "ping", "load"):
            with self.subTest(cmd=cmd):
                one_line_error(self, shout(cmd, "--host", "127.0.0.1:7", "x"), EXIT_USAGE,
                               "--port 7")
                one_line_error(self, shout(cmd, "--host", "[::1]", "x"), EXIT_USAGE,
                               "without brackets")

    def test_a_duration_past_the_maximum_names_the_maximum(self):
        for value in ("1e9", "1000000000", "25000h"):
            with self.subTest(value=value):
                one_line_error(self, shout("ping", "--duration", value), EXIT_USAGE,
                               "2147483s")

    def test_every_usage_error_is_one_line_with_one_prefix(self):
        for args in (("send", "--bogus"), ("send", "--port", "0", "x"), ("ping", "-x"),
                     ("ping", "--threads", "2"), ("load", "--sockperf"), ("load", "--size", "1G"),
                     ("load", "-R", "fast"), ("ping", "--count"), ("nope",), (),
                     ("merge",), ("merge", "--bogus"), ("send", "-4", "-6", "x"),
                     ("load", "--cpu", "0,1"), ("load", "-t", "2", "-c", "2", "--cpu", "0,1,2"),
                     ("ping", "--cpu", "0,1")):
            with self.subTest(args=args):
                one_line_error(self, shout(*args), EXIT_USAGE)

    def test_merge_stops_reading_an_endless_standard_input(self):
        # A JSON string that never ends, from a writer that would go on for
        # 256 MiB: shout must stop at its 64 MiB limit, not read it all.
        proc = subprocess.Popen([SHOUT, "merge", "-"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sent = []
        writer = threading.Thread(target=self.feed_endless, args=(proc.stdin, 256, sent))
        writer.start()
        err = proc.stderr.read()
        proc.wait(TIMEOUT)
        writer.join(TIMEOUT)
        self.assertEqual(proc.returncode, EXIT_LOCAL, err)
        self.assertEqual(err.count(b"\n"), 1, err)
        self.assertIn(b"shout: -: over 64 MiB", err)
        self.assertLess(sent[0], 256 << 20, "shout read the whole stream")

    @staticmethod
    def feed_endless(pipe, mib, sent):
        chunk, total = b"x" * (1 << 20), 0
        try:
            pipe.write(b'{"format": 1, "pad": "')
            for _ in range(mib):
                pipe.write(chunk)
                total += len(chunk)
            pipe.close()
        except BrokenPipeError:
            pass  # shout stopped reading, as it should
        sent.append(total)

    def test_cpus_past_the_threads_are_refused_with_the_thread_count(self):
        one_line_error(self, shout("load", "--cpu", "0,5"), EXIT_USAGE, "for 1 thread")


if __name__ == "__main__":
    unittest.main(verbosity=2)
