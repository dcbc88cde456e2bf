"""The result files and what a run says about itself, end to end against a
real shoutd: the server's deliberate drops named in the table and the JSON
(exit 7), Ctrl-C and SIGTERM keeping the run (exit 130, "interrupted"),
`--json -`, the --json path checked before any traffic, and shout merge
refusing another format and the same run twice. Every file that ping, load
and merge write here is validated against docs/result.schema.json with
Debian's python3-jsonschema (the tests that need it skip without it)."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from shoutlib import SHOUT, PortsServer, free_port

EXIT_OK, EXIT_USAGE, EXIT_NETWORK, EXIT_LIMITED, EXIT_INTERRUPTED = 0, 2, 3, 7, 130
RUN_TIMEOUT = 60.0  # seconds a whole shout run may take before the test fails
SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                           "docs", "result.schema.json")

try:
    import jsonschema
except ImportError:  # ci/test installs it; without it the schema is not checked
    jsonschema = None


def shout(*args):
    if not SHOUT:
        raise unittest.SkipTest("SHOUT is not set")
    return subprocess.run([SHOUT, *args], capture_output=True, timeout=RUN_TIMEOUT,
                          check=False)


class ResultsTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def assert_valid(self, result):
        """The file against docs/result.schema.json."""
        if jsonschema is None:
            self.skipTest("python3-jsonschema is not installed")
        with open(SCHEMA_PATH, encoding="utf-8") as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator(schema).validate(result)

    def load(self, name):
        with open(self.path(name), encoding="utf-8") as f:
            result = json.load(f)
        self.assert_valid(result)
        return result

    def assert_exit(self, proc, status):
        self.assertEqual(proc.returncode, status,
                         f"stdout:\n{proc.stdout.decode()}\nstderr:\n{proc.stderr.decode()}")


class ServerDropsTest(ResultsTestCase):
    def test_udp_rate_limit_is_named_and_exits_7(self):
        # 50 replies/s per source, loopback included: a closed-loop ping
        # sends thousands, so most of its loss is the limiter's.
        server = PortsServer("--udp-rate-loopback", "--udp-rate-per-ip", "50",
                             "--udp-rate-burst", "50")
        self.addCleanup(server.close)
        proc = shout("ping", "--udp", "--port", str(server.port), "--stats-port",
                     str(server.stats_port), "--duration", "1", "--warmup", "0",
                     "--timeout", "0.05", "--json", self.path("udp.json"))
        self.assert_exit(proc, EXIT_LIMITED)
        err = proc.stderr.decode()
        self.assertIn("shout: server rate-limited ", err)
        self.assertIn("(udp.dropped_rate): start shoutd with --udp-rate-per-ip 0 "
                      "--udp-rate 0 to benchmark from another machine", err)
        self.assertIn("udp.dropped_rate", proc.stdout.decode())
        result = self.load("udp.json")
        counts = result["results"]["counts"]
        drops = result["results"]["server_drops"]
        self.assertGreater(counts["lost"], 0)
        self.assertGreater(drops["udp.dropped_rate"], 0)
        self.assertGreaterEqual(2 * drops["udp.dropped_rate"], counts["lost"])

    def test_tcp_connection_cap_is_refused_not_lost(self):
        server = PortsServer("--max-conns-per-ip", "1")
        self.addCleanup(server.close)
        proc = shout("load", "--port", str(server.port), "--stats-port",
                     str(server.stats_port), "--connections", "2", "--count", "200",
                     "--warmup", "0", "--json", self.path("tcp.json"))
        self.assert_exit(proc, EXIT_LIMITED)
        self.assertIn("tcp.refused_per_ip", proc.stderr.decode())
        table = proc.stdout.decode()
        self.assertIn("refused (closed by the server) 1", table)
        self.assertNotIn("lost", table)
        result = self.load("tcp.json")
        counts = result["results"]["counts"]
        self.assertEqual(counts["refused"], 1)
        self.assertEqual(counts["lost"], 0)
        self.assertEqual(result["results"]["server_drops"]["tcp.refused_per_ip"], 1)


class InterruptTest(ResultsTestCase):
    def interrupt(self, sig, *args):
        """Start a long run, signal it once it is measuring, return (proc, JSON)."""
        if not SHOUT:
            raise unittest.SkipTest("SHOUT is not set")
        server = PortsServer()
        self.addCleanup(server.close)
        out = self.path("run.json")
        proc = subprocess.Popen([SHOUT, *args, "--port", str(server.port), "--stats-port",
                                 str(server.stats_port), "--duration", "60", "--warmup", "0",
                                 "--progress", "--json", out],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Wait for the first interval's line (a second of measuring), not a fixed time.
        deadline = time.monotonic() + 20
        line = b""
        while b"0.00-1.00s" not in line and time.monotonic() < deadline:
            line += os.read(proc.stderr.fileno(), 4096)
        os.kill(proc.pid, sig)
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT)
        stderr = line + stderr
        self.assertEqual(proc.returncode, EXIT_INTERRUPTED, stderr.decode())
        self.assertIn(b"shout: interrupted after", stderr)
        # Progress lines end in newlines: no "\r" anywhere, so none before "shout:".
        self.assertNotIn(b"\r", stderr)
        self.assertIn(b"(interrupted", stdout)
        return self.load("run.json")

    def test_sigint_keeps_what_ping_measured(self):
        result = self.interrupt(signal.SIGINT, "ping")
        self.assertTrue(result["interrupted"])
        self.assertGreater(result["results"]["counts"]["received"], 0)
        self.assertLess(result["results"]["elapsed_s"], 60)

    def test_sigterm_keeps_what_load_measured(self):
        result = self.interrupt(signal.SIGTERM, "load", "--connections", "2")
        self.assertTrue(result["interrupted"])
        counts = result["results"]["counts"]
        self.assertGreater(counts["received"], 0)
        self.assertEqual(counts["unanswered"], 0)
        self.assertLess(result["results"]["elapsed_s"], 60)


class JsonOutputTest(ResultsTestCase):
    def test_json_dash_is_stdout_and_the_table_moves_to_stderr(self):
        server = PortsServer()
        self.addCleanup(server.close)
        proc = shout("ping", "--port", str(server.port), "--stats-port",
                     str(server.stats_port), "--count", "20", "--warmup", "0", "--json", "-")
        self.assert_exit(proc, EXIT_OK)
        result = json.loads(proc.stdout)
        self.assert_valid(result)
        self.assertEqual(result["format"], 1)
        self.assertEqual(result["run_ids"], [result["run_id"]])
        self.assertIn(b"round trip (RTT)", proc.stderr)
        self.assertFalse(os.path.exists("-"))

    def test_unwritable_path_fails_before_any_traffic(self):
        # Nothing listens on the port: a run that started would exit 3.
        port = free_port(socket.SOCK_STREAM)
        proc = shout("ping", "--port", str(port), "--count", "1", "--json",
                     self.path("no/such/dir/x.json"))
        self.assert_exit(proc, EXIT_USAGE)
        self.assertEqual(len(proc.stderr.decode().splitlines()), 1, proc.stderr.decode())
        self.assertIn("cannot write", proc.stderr.decode())

    def test_reals_are_short(self):
        server = PortsServer()
        self.addCleanup(server.close)
        proc = shout("ping", "--port", str(server.port), "--count", "10", "--warmup", "0.2",
                     "--no-server-stats", "--json", self.path("a.json"))
        self.assert_exit(proc, EXIT_OK)
        with open(self.path("a.json"), encoding="utf-8") as f:
            text = f.read()
        self.assertIn('"warmup_s": 0.2,', text)
        self.assertIsInstance(json.loads(text)["results"]["latency"]["sum_ns"], int)


class MergeFormatTest(ResultsTestCase):
    def run_twice(self):
        server = PortsServer()
        self.addCleanup(server.close)
        for name in ("a.json", "b.json"):
            proc = shout("load", "--port", str(server.port), "--stats-port",
                         str(server.stats_port), "--count", "50", "--warmup", "0",
                         "--json", self.path(name))
            self.assert_exit(proc, EXIT_OK)

    def test_merge_writes_a_valid_file_with_every_run_id(self):
        self.run_twice()
        proc = shout("merge", self.path("a.json"), self.path("b.json"), "--json",
                     self.path("m.json"))
        self.assert_exit(proc, EXIT_OK)
        merged = self.load("m.json")
        ids = {self.load("a.json")["run_id"], self.load("b.json")["run_id"]}
        self.assertEqual(set(merged["run_ids"]), ids)
        self.assertNotIn(merged["run_id"], ids)
        # A merged file and one of its own runs: that run twice.
        proc = shout("merge", self.path("m.json"), self.path("a.json"))
        self.assert_exit(proc, EXIT_USAGE)
        self.assertIn("the same run twice", proc.stderr.decode())

    def test_merge_refuses_the_same_file_twice_and_another_format(self):
        self.run_twice()
        proc = shout("merge", self.path("a.json"), self.path("a.json"))
        self.assert_exit(proc, EXIT_USAGE)
        self.assertIn("the same run twice", proc.stderr.decode())
        result = self.load("b.json")
        result["format"] = 2
        with open(self.path("b2.json"), "w", encoding="utf-8") as f:
            json.dump(result, f)
        proc = shout("merge", self.path("a.json"), self.path("b2.json"))
        self.assertNotEqual(proc.returncode, EXIT_OK)
        self.assertIn("format", proc.stderr.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
