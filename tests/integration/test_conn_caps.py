"""Connection caps (issue 5, point 1): --max-conns, --max-conns-per-ip, and
running out of descriptors. A connection over a cap is accepted and closed at
once with nothing written, and counted by reason; clients already connected
notice nothing. EMFILE must not spin the event loop: the test counts the
loop's wakeups."""

import resource
import socket
import subprocess
import time
import unittest

from shoutlib import (SHOUTD, TIMEOUT, PortsServer, Server, ServerTestCase,
                      build_preload_library, connect_from, fetch_stats, preload_env, recv_exact)


def assert_refused(test, sock):
    """The server closes at once and writes nothing: EOF or a reset."""
    try:
        data = sock.recv(64)
    except ConnectionResetError:
        data = b""
    test.assertEqual(data, b"", "a refused connection got data")


class CapsTestCase(ServerTestCase):
    def setUp(self):
        # --port 0 puts the stats port on a free port, printed on line 2.
        self.server = PortsServer(*self.server_args)
        self.addCleanup(self.server.close)
        self.port = self.server.port
        self.stats_port = self.server.stats_port
        self.socks = []
        self.addCleanup(self.close_all)

    def close_all(self):
        for sock in self.socks:
            sock.close()

    def open(self, source="127.0.0.1"):
        sock = connect_from(self.port, source)
        self.socks.append(sock)
        return sock

    def assert_answers(self, sock, text=b"hello"):
        sock.sendall(text)
        self.assertEqual(recv_exact(sock, len(text)), text.upper())

    def wait_for(self, section, key, value):
        deadline = time.monotonic() + TIMEOUT
        while True:
            now = fetch_stats(self.stats_port)
            if now[section][key] >= value:
                return now
            if time.monotonic() > deadline:
                self.fail(f"{section}.{key} stayed below {value}: {now}")
            time.sleep(0.02)


class MaxConnsTest(CapsTestCase):
    server_args = ("--max-conns", "5", "--max-conns-per-ip", "5")

    def test_sixth_connection_is_closed_and_counted(self):
        first = [self.open() for _ in range(5)]
        for sock in first:
            self.assert_answers(sock)
        extra = self.open()
        assert_refused(self, extra)
        after = self.wait_for("tcp", "refused_max_conns", 1)
        self.assertEqual(after["tcp"]["refused_max_conns"], 1)
        self.assertEqual(after["tcp"]["refused_per_ip"], 0)
        self.assertEqual(after["tcp"]["accepted"], 5)
        # The five connected before notice nothing.
        for sock in first:
            self.assert_answers(sock, b"still here")
        # Closing one frees a slot.
        first[0].close()
        self.wait_for("tcp", "closed", 1)
        self.assert_answers(self.open(), b"a free slot")


class PerIpCapTest(CapsTestCase):
    server_args = ("--max-conns-per-ip", "3")

    def test_fourth_from_one_address_is_refused_others_served(self):
        mine = [self.open("127.0.0.1") for _ in range(3)]
        for sock in mine:
            self.assert_answers(sock)
        fourth = self.open("127.0.0.1")
        assert_refused(self, fourth)
        after = self.wait_for("tcp", "refused_per_ip", 1)
        self.assertEqual(after["tcp"]["refused_per_ip"], 1)
        self.assertEqual(after["tcp"]["refused_max_conns"], 0)
        # Another source address is served, up to its own cap.
        others = [self.open("127.0.0.2") for _ in range(3)]
        for sock in others:
            self.assert_answers(sock, b"from two")
        for sock in mine:
            self.assert_answers(sock, b"still here")
        # Closing one frees a slot for its address.
        mine[0].close()
        self.wait_for("tcp", "closed", 1)
        self.assert_answers(self.open("127.0.0.1"), b"a free slot")


class DefaultPerIpCapTest(CapsTestCase):
    server_args = ("--max-conns", "8")

    def test_default_is_a_quarter_of_max_conns(self):
        mine = [self.open() for _ in range(2)]
        for sock in mine:
            self.assert_answers(sock)
        assert_refused(self, self.open())
        self.assertEqual(self.wait_for("tcp", "refused_per_ip", 1)["tcp"]["refused_per_ip"], 1)


class BadValuesTest(unittest.TestCase):
    def test_bad_caps_are_usage_errors(self):
        if not SHOUTD:
            raise unittest.SkipTest("SHOUTD is not set")
        for args in (["--max-conns", "0"], ["--max-conns", "-1"], ["--max-conns", "10000001"],
                     ["--max-conns", "5k"], ["--max-conns-per-ip", "x"],
                     ["--max-conns-per-ip", "10000001"]):
            proc = subprocess.run([SHOUTD, "--port", "0", *args], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=TIMEOUT)
            self.assertEqual(proc.returncode, 2, args)
            self.assertEqual(proc.stdout, b"", args)
            self.assertIn(args[0], proc.stderr.decode(), args)


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))


class NoFdsTest(unittest.TestCase):
    """shoutd under RLIMIT_NOFILE 32 with a flood of 60 connections."""

    ATTEMPTS = 60

    def setUp(self):
        if not SHOUTD:
            raise unittest.SkipTest("SHOUTD is not set")
        self.proc = None

    def start(self, env=None):
        self.proc = subprocess.Popen([SHOUTD, "--port", "0", "--max-conns", "100000",
                                      "--max-conns-per-ip", "0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=low_nofile, env=env)
        self.addCleanup(self.reap)
        port = self.proc.stdout.readline()
        stats_line = self.proc.stdout.readline().split()
        self.assertTrue(port.strip().isdigit(), port)
        self.assertEqual(stats_line[:1], [b"stats"])
        return int(port), int(stats_line[1])

    def reap(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def flood_then_recover(self, port, stats_port):
        """Hold ATTEMPTS connections for 1 s, close them, then a well-behaved
        client must be answered; the stats before and after."""
        before = fetch_stats(stats_port)
        socks = []
        try:
            for _ in range(self.ATTEMPTS):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.settimeout(TIMEOUT)
                sock.connect(("127.0.0.1", port))
                socks.append(sock)
            time.sleep(1)
            self.assertIsNone(self.proc.poll(), "shoutd died")
            # Close the flood, then a well-behaved client is answered.
            for sock in socks:
                sock.close()
            socks = []
            deadline = time.monotonic() + TIMEOUT
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
                        sock.sendall(b"well behaved")
                        self.assertEqual(recv_exact(sock, 12), b"WELL BEHAVED")
                    break
                except (ConnectionError, AssertionError, socket.timeout):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            after = fetch_stats(stats_port)
        finally:
            for sock in socks:
                sock.close()
        # Every attempt, answer and close may wake the loop a few times; a
        # spinning loop wakes millions of times in the second it was held.
        wakeups = after["loop_wakeups"] - before["loop_wakeups"]
        self.assertLess(wakeups, 10 * self.ATTEMPTS + 100, after)
        self.assertIsNone(self.proc.poll(), "shoutd died")
        self.proc.terminate()
        self.assertEqual(self.proc.wait(TIMEOUT), 0, self.proc.stderr.read().decode())
        return before, after

    def test_emfile_does_not_spin(self):
        _, after = self.flood_then_recover(*self.start())
        self.assertGreater(after["tcp"]["refused_no_fds"], 0, after)
        self.assertGreater(after["tcp"]["accepted"], 0, after)
        self.assertEqual(after["tcp"]["accept_pauses"], 0, after)

    def test_with_no_spare_descriptor_accepting_pauses_instead_of_spinning(self):
        # The spare cannot be reopened when the system's table is full
        # (ENFILE): here open("/dev/null") is made to fail from the start.
        library = build_preload_library(type(self), NO_SPARE_SOURCE)
        _, after = self.flood_then_recover(*self.start(env=preload_env(library)))
        self.assertGreater(after["tcp"]["accept_pauses"], 0, after)
        self.assertEqual(after["tcp"]["refused_no_fds"], 0, after)
        self.assertGreater(after["tcp"]["accepted"], 0, after)


# open("/dev/null") fails with ENFILE, as when the system's descriptor table
# is full; every other open goes through.
NO_SPARE_SOURCE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int open_unless_dev_null(const char *path, int flags, va_list args)
{
    if (strcmp(path, "/dev/null") == 0) {
        errno = ENFILE;
        return -1;
    }
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(args, mode_t) : 0;
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

int open(const char *path, int flags, ...)
{
    va_list args;
    va_start(args, flags);
    int fd = open_unless_dev_null(path, flags, args);
    va_end(args);
    return fd;
}

int open64(const char *path, int flags, ...)
{
    va_list args;
    va_start(args, flags);
    int fd = open_unless_dev_null(path, flags, args);
    va_end(args);
    return fd;
}
"""


class DescriptorLimitTest(unittest.TestCase):
    """shoutd raises its own soft RLIMIT_NOFILE to the hard limit."""

    def start(self, soft, hard, *args):
        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        server = Server(*args, preexec_fn=limit)
        self.addCleanup(server.close)
        return server

    @staticmethod
    def open_files_limits(pid):
        with open(f"/proc/{pid}/limits", encoding="ascii") as limits:
            for line in limits:
                if line.startswith("Max open files"):
                    soft, hard = line.split()[3:5]
                    return int(soft), int(hard)
        raise AssertionError("no 'Max open files' in /proc/PID/limits")

    def test_soft_limit_is_raised_to_the_hard_limit(self):
        server = self.start(128, 4096, "--max-conns", "1000")
        self.assertEqual(self.open_files_limits(server.proc.pid), (4096, 4096))
        self.assertEqual(server.stop(), 0)
        self.assertNotIn("descriptors", server.stderr_text())

    def test_a_hard_limit_short_of_max_conns_is_warned_about(self):
        server = self.start(128, 512, "--max-conns", "1000")
        self.assertEqual(self.open_files_limits(server.proc.pid), (512, 512))
        self.assertEqual(server.stop(), 0)
        self.assertIn("short of the 1064 that --max-conns 1000 needs", server.stderr_text())


if __name__ == "__main__":
    unittest.main()
