"""The process sandbox (server/sandbox.c): a running shoutd is under its
seccomp filter with no new privileges (/proc/PID/status), still serves TCP,
UDP and the stats port, and dies with SIGSYS when code inside it makes a
syscall off the list (injected with LD_PRELOAD: the binary has no way to do
it itself); --no-sandbox leaves the filter out; --user drops root after
binding (as root only) and refuses what it cannot do with exit status 2."""

import os
import pwd
import resource
import signal
import socket
import subprocess
import unittest

from shoutlib import (SHOUTD, TIMEOUT, TYPE_REPLY, Server, build_preload_library, connect,
                      encode_frame, fetch_stats, free_port, recv_exact, recv_frame,
                      recv_until_eof, run_program, udp_socket, wait_for)

# A server killed on purpose here must not leave a core file behind.
resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))

IS_ROOT = os.geteuid() == 0


def proc_status(pid):
    """/proc/PID/status as {field: value}."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


# What shoutd says on stderr once it is confined (after the port lines: the
# sandbox comes after binding), and with --no-sandbox.
SANDBOXED = "shoutd: sandboxed: seccomp allow-list, no new privileges"
NOT_SANDBOXED = "shoutd: --no-sandbox: no seccomp filter"


class SandboxTestCase(unittest.TestCase):

    def start(self, *args):
        """A shoutd with a stats port, once it has confined itself (or said it will not)."""
        self.stats_port = free_port(socket.SOCK_STREAM)
        server = Server("--stats-port", str(self.stats_port), *args)
        self.addCleanup(server.close)
        line = NOT_SANDBOXED if "--no-sandbox" in args else SANDBOXED
        self.assertTrue(wait_for(lambda: line in server.stderr_text() or not server.running()),
                        server.stderr_text())
        self.assertTrue(server.running(), server.stderr_text())
        self.assertIn(line, server.stderr_text())
        return server

    def assert_serves_everything(self, server):
        """Text and framed TCP, UDP, the stats port and SIGUSR1 all work."""
        with connect(server.port) as sock:
            sock.sendall(b"sandboxed")
            self.assertEqual(recv_exact(sock, 9), b"SANDBOXED")
        with connect(server.port) as sock:
            sock.sendall(encode_frame(b"framed", 7))
            header, payload = recv_frame(sock)
            self.assertEqual((header.type, header.id, payload), (TYPE_REPLY, 7, b"FRAMED"))
        with udp_socket() as udp:
            udp.sendto(b"datagram", ("127.0.0.1", server.port))
            self.assertEqual(udp.recvfrom(64)[0], b"DATAGRAM")
        stats = fetch_stats(self.stats_port)
        self.assertEqual(stats["pid"], server.proc.pid)
        self.assertGreaterEqual(stats["udp"]["replies"], 1)
        os.kill(server.proc.pid, signal.SIGUSR1)
        self.assertTrue(wait_for(lambda: "shoutd: counters {" in server.stderr_text()),
                        server.stderr_text())
        self.assertTrue(server.running(), server.stderr_text())

    def assert_stops_cleanly(self, server):
        self.assertEqual(server.stop(), 0, server.stderr_text())


class FilterTest(SandboxTestCase):

    def test_by_default_seccomp_filter_and_no_new_privs_and_everything_served(self):
        server = self.start()
        status = proc_status(server.proc.pid)
        self.assertEqual(status["Seccomp"], "2", "2 is SECCOMP_MODE_FILTER")
        self.assertEqual(status["NoNewPrivs"], "1")
        self.assert_serves_everything(server)
        self.assert_stops_cleanly(server)

    def test_no_sandbox_leaves_the_filter_out_but_not_no_new_privs(self):
        server = self.start("--no-sandbox")
        status = proc_status(server.proc.pid)
        self.assertEqual(status["Seccomp"], "0")
        self.assertEqual(status["NoNewPrivs"], "1")
        self.assert_serves_everything(server)
        self.assert_stops_cleanly(server)

    def test_sigterm_drain_with_an_open_connection_works_under_the_filter(self):
        server = self.start()
        with connect(server.port) as sock:
            sock.sendall(b"x")
            self.assertEqual(recv_exact(sock, 1), b"X")
            os.kill(server.proc.pid, signal.SIGTERM)
            self.assertEqual(recv_until_eof(sock), b"")
        self.assertEqual(server.proc.wait(TIMEOUT), 0, server.stderr_text())


# sched_getcpu() is what shoutd calls to fill the stats port's "cpu" field.
# This stand-in makes a syscall shoutd never makes once it runs, socket(),
# then answers as the real one would; LD_PRELOAD puts it in shoutd's place.
SHIM_SOURCE = r"""
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int sched_getcpu(void)
{
    long fd = syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
    if (fd >= 0)
        close((int)fd);
    unsigned cpu = 0;
    return syscall(SYS_getcpu, &cpu, NULL, NULL) == 0 ? (int)cpu : -1;
}
"""


class ForbiddenSyscallTest(SandboxTestCase):
    """Code running inside shoutd that makes a syscall off the list kills it."""

    @classmethod
    def setUpClass(cls):
        cls.shim = build_preload_library(cls, SHIM_SOURCE)

    def start_with_shim(self, *args):
        saved = os.environ.get("LD_PRELOAD")
        os.environ["LD_PRELOAD"] = self.shim
        try:
            return self.start(*args)
        finally:
            if saved is None:
                del os.environ["LD_PRELOAD"]
            else:
                os.environ["LD_PRELOAD"] = saved

    def shim_is_in_place(self, server):
        with open(f"/proc/{server.proc.pid}/maps", encoding="ascii") as maps:
            return self.shim in maps.read()

    def test_a_forbidden_syscall_in_the_running_server_kills_it_with_sigsys(self):
        server = self.start_with_shim()
        self.assertTrue(self.shim_is_in_place(server))
        self.assert_serves_text(server)
        # The stats port calls sched_getcpu, which now calls socket().
        with connect(self.stats_port) as sock:
            try:
                self.assertEqual(recv_until_eof(sock), b"")
            except ConnectionResetError:
                pass
        self.assertEqual(server.proc.wait(TIMEOUT), -signal.SIGSYS, server.stderr_text())

    def test_the_same_call_without_the_filter_is_harmless(self):
        server = self.start_with_shim("--no-sandbox")
        self.assertTrue(self.shim_is_in_place(server))
        stats = fetch_stats(self.stats_port)
        self.assertEqual(stats["pid"], server.proc.pid)
        self.assert_serves_text(server)
        self.assert_stops_cleanly(server)

    def assert_serves_text(self, server):
        with connect(server.port) as sock:
            sock.sendall(b"ok")
            self.assertEqual(recv_exact(sock, 2), b"OK")


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


class UserTest(SandboxTestCase):

    def test_unknown_user_exits_2_with_one_line_and_binds_nothing(self):
        result = run_program(SHOUTD, "--port", "0", "--user", "no-such-user-shout")
        self.assertEqual(result.returncode, 2, result.stderr)
        lines = result.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn("--user no-such-user-shout: no such user", lines[0])
        self.assertEqual(result.stdout, b"", "no port may be printed")

    def test_a_user_with_uid_0_is_refused(self):
        root = pwd.getpwuid(0).pw_name
        result = run_program(SHOUTD, "--port", "0", "--user", root)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("uid 0", result.stderr.decode())
        self.assertEqual(result.stdout, b"")

    @unittest.skipUnless(IS_ROOT, "only root can drop to another user")
    def test_user_nobody_drops_every_id_and_still_serves(self):
        entry = nobody()
        if entry is None:
            self.skipTest("no user nobody")
        server = self.start("--user", "nobody")
        status = proc_status(server.proc.pid)
        uid, gid = str(entry.pw_uid), str(entry.pw_gid)
        self.assertEqual(status["Uid"].split(), [uid] * 4, "real, effective, saved, fs")
        self.assertEqual(status["Gid"].split(), [gid] * 4)
        self.assertEqual(status["Groups"].split(), [], "no supplementary groups")
        self.assertEqual(status["CapEff"], "0000000000000000")
        self.assertEqual(status["Seccomp"], "2")
        self.assertEqual(status["NoNewPrivs"], "1")
        self.assertIn("shoutd: running as user nobody", server.stderr_text())
        self.assertNotIn("warning: running as root", server.stderr_text())
        self.assert_serves_everything(server)
        self.assert_stops_cleanly(server)

    @unittest.skipUnless(IS_ROOT, "only root runs as root")
    def test_root_without_user_is_warned_and_goes_on(self):
        server = self.start()
        self.assertTrue(wait_for(lambda: "warning: running as root" in server.stderr_text()),
                        server.stderr_text())
        self.assertEqual(proc_status(server.proc.pid)["Uid"].split()[0], "0")
        self.assert_serves_everything(server)
        self.assert_stops_cleanly(server)

    def test_user_when_not_root_exits_2(self):
        if IS_ROOT:
            entry = nobody()
            if entry is None:
                self.skipTest("no user nobody to run shoutd as")
            # Root runs shoutd as nobody to see what a non-root start does.
            try:
                result = subprocess.run([SHOUTD, "--port", "0", "--user", "nobody"],
                                        capture_output=True, timeout=TIMEOUT, check=False,
                                        user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
            except PermissionError:
                self.skipTest(f"user nobody may not run {SHOUTD}")
        else:
            try:
                me = pwd.getpwuid(os.getuid()).pw_name
            except KeyError:
                self.skipTest(f"uid {os.getuid()} has no user name to pass to --user")
            result = run_program(SHOUTD, "--port", "0", "--user", me)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("only root can change user", result.stderr.decode())
        self.assertEqual(result.stdout, b"")


if __name__ == "__main__":
    unittest.main(verbosity=2)
