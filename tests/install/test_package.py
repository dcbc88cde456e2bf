"""`cpack -G DEB` makes a .deb of what `cmake --install` puts under /usr: the
programs, the man pages (gzipped), the bash completions and the systemd unit
(whose ExecStart is /usr/bin/shoutd), with the dependencies dpkg-shlibdeps
found (libseccomp2, libjansson4). The package is built into a scratch
directory, never into the build tree.

And it installs: `dpkg -i` into a scratch root whose dpkg database is a copy
of this system's (so its Depends are met, or not, exactly as here, and none
of its files may be another installed package's), then `dpkg -r`. The host's
dpkg database is only read, never written."""

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

CPACK = sys.argv[1] if len(sys.argv) > 1 else None
CONFIG = sys.argv[2] if len(sys.argv) > 2 else None


class PackageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not CPACK or not CONFIG or not shutil.which("dpkg-deb"):
            raise unittest.SkipTest("needs cpack, CPackConfig.cmake and dpkg-deb")
        cls.scratch = tempfile.mkdtemp(prefix="shout-package-")
        result = subprocess.run([CPACK, "-G", "DEB", "--config", CONFIG, "-B", cls.scratch],
                                capture_output=True, timeout=240, check=False)
        if result.returncode != 0:
            shutil.rmtree(cls.scratch, ignore_errors=True)
            raise AssertionError("cpack failed:\n" + result.stdout.decode(errors="replace")
                                 + result.stderr.decode(errors="replace"))
        debs = glob.glob(os.path.join(cls.scratch, "*.deb"))
        if len(debs) != 1:
            shutil.rmtree(cls.scratch, ignore_errors=True)
            raise AssertionError("cpack made %r, not one .deb" % debs)
        cls.deb = debs[0]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def dpkg_deb(self, option, *fields):
        return subprocess.run(["dpkg-deb", option, self.deb, *fields], capture_output=True,
                              check=True, timeout=60).stdout.decode()

    def test_file_list(self):
        files = {line.split()[-1].lstrip(".") for line in self.dpkg_deb("-c").splitlines()}
        for path in ("/usr/bin/shout", "/usr/bin/shoutd", "/usr/bin/shout-bench",
                     "/usr/share/man/man1/shout.1.gz", "/usr/share/man/man1/shout-bench.1.gz",
                     "/usr/share/man/man8/shoutd.8.gz",
                     "/usr/share/bash-completion/completions/shout",
                     "/usr/share/bash-completion/completions/shoutd",
                     "/usr/lib/systemd/system/shoutd.service"):
            with self.subTest(path=path):
                self.assertIn(path, files)
        # Debian Policy 12.1: man pages compressed, never beside their .gz.
        pages = sorted(f for f in files if f.startswith("/usr/share/man/man") and "." in f)
        self.assertTrue(pages)
        for page in pages:
            with self.subTest(page=page):
                self.assertTrue(page.endswith(".gz"), page)

    def test_control(self):
        self.assertEqual(self.dpkg_deb("-f", "Package").strip(), "shout")
        self.assertTrue(self.dpkg_deb("-f", "Maintainer").strip())
        depends = self.dpkg_deb("-f", "Depends")
        for library in ("libseccomp2", "libjansson4"):
            with self.subTest(library=library):
                self.assertIn(library, depends)

    def test_unit_runs_the_packaged_shoutd(self):
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", self.deb], capture_output=True,
                             check=True, timeout=60).stdout
        unit = subprocess.run(["tar", "-xO", "./usr/lib/systemd/system/shoutd.service"],
                              input=tar, capture_output=True, check=True, timeout=60).stdout
        self.assertIn(b"\nExecStart=/usr/bin/shoutd ", unit)

    def test_dpkg_installs_and_removes_it_in_a_scratch_root(self):
        if not shutil.which("dpkg") or not shutil.which("dpkg-query"):
            self.skipTest("needs dpkg and dpkg-query")
        host_admin = "/var/lib/dpkg"
        host_status = os.path.join(host_admin, "status")
        if not os.path.isfile(host_status):
            self.skipTest("no dpkg database at " + host_admin)
        host_list = os.path.join(host_admin, "info", "shout.list")
        before = (self.digest(host_status), os.path.exists(host_list))

        # No maintainer scripts: dpkg --root would run them chrooted into the
        # scratch root, which has no shell (and --force-script-chrootless
        # would run them against this machine). A package that grows some
        # needs a real chroot or container to be tested this way.
        control = subprocess.run(["dpkg-deb", "--ctrl-tarfile", self.deb], capture_output=True,
                                 check=True, timeout=60).stdout
        members = subprocess.run(["tar", "-t"], input=control, capture_output=True, check=True,
                                 timeout=60).stdout.decode().split()
        self.assertEqual(sorted(m.lstrip("./") for m in members if m.strip("./")),
                         ["control", "md5sums"])

        root = tempfile.mkdtemp(prefix="shout-dpkg-root-")
        try:
            self.make_admin_dir(root, host_admin)
            files = [line.split()[-1].lstrip(".") for line in self.dpkg_deb("-c").splitlines()
                     if line.startswith("-")]
            self.assertIn("/usr/bin/shoutd", files)

            # dpkg -i only refuses to overwrite another package's file that
            # is on disk, and the scratch root is empty: ask the copied
            # database who owns each path instead (no one, or dpkg-query
            # prints the owner; it exits 1 when it finds none).
            owners = self.dpkg_query(root, "-S", *files)
            self.assertEqual(owners.stdout.decode(), "", "files another package owns")

            output = self.dpkg(root, "-i", self.deb)
            self.assertNotIn("warning", output.lower(), output)
            self.assertNotIn("error", output.lower(), output)
            self.assertIn("Setting up shout", output)

            status = self.dpkg_query(root, "-s", "shout")
            self.assertEqual(status.returncode, 0, status.stderr)
            self.assertIn(b"\nStatus: install ok installed\n", status.stdout)
            for path in files:
                with self.subTest(installed=path):
                    self.assertTrue(os.path.isfile(root + path), root + path)
            for program in ("shoutd", "shout"):
                with self.subTest(program=program):
                    result = subprocess.run([os.path.join(root, "usr", "bin", program),
                                             "--version"], capture_output=True, timeout=30,
                                            check=False)
                    self.assertEqual(result.returncode, 0, result.stderr)
                    self.assertTrue(result.stdout.startswith(program.encode() + b" "))

            output = self.dpkg(root, "-r", "shout")
            self.assertNotIn("warning", output.lower(), output)
            status = self.dpkg_query(root, "-W", "-f=${db:Status-Abbrev}", "shout")
            self.assertNotIn(b"ii", status.stdout)
            for path in files:
                with self.subTest(removed=path):
                    self.assertFalse(os.path.lexists(root + path), root + path)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        self.assertEqual((self.digest(host_status), os.path.exists(host_list)), before,
                         "the host's dpkg database changed")

    @staticmethod
    def digest(path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    @staticmethod
    def make_admin_dir(root, host_admin):
        """root/var/lib/dpkg: the host's status, so that Depends are judged by
        what this system has installed, and its packages' file lists, so that
        the package's files can be checked against theirs (and dpkg does not
        warn that each list is missing). No triggers: the host's man-db would
        want to run its trigger, which a scratch root cannot."""
        admin = os.path.join(root, "var", "lib", "dpkg")
        for sub in ("info", "updates", "triggers"):
            os.makedirs(os.path.join(admin, sub))
        open(os.path.join(admin, "available"), "w").close()
        shutil.copyfile(os.path.join(host_admin, "status"), os.path.join(admin, "status"))
        for listed in glob.glob(os.path.join(host_admin, "info", "*.list")):
            shutil.copyfile(listed, os.path.join(admin, "info", os.path.basename(listed)))

    @staticmethod
    def dpkg_env(root):
        """No DPKG_* from outside, the C locale (so that "warning" is spelt
        so), and HOME in the scratch root (no ~/.dpkg.cfg)."""
        env = {name: value for name, value in os.environ.items() if not name.startswith("DPKG_")}
        env.update(PATH="/usr/sbin:/usr/bin:/sbin:/bin", HOME=root, LC_ALL="C")
        return env

    def dpkg_query(self, root, *args):
        return subprocess.run(["dpkg-query", "--root=" + root, *args], capture_output=True,
                              env=self.dpkg_env(root), timeout=60, check=False)

    @staticmethod
    def dpkg(root, *args):
        """dpkg on the scratch root (--root: files under it, its database in
        root/var/lib/dpkg), without logging to the host's dpkg.log, and with
        everything included even where /etc/dpkg/dpkg.cfg.d excludes paths
        (Docker's slim images drop /usr/share/man). Fails on a non-zero exit;
        returns stdout and stderr together."""
        result = subprocess.run(["dpkg", "--root=" + root, "--force-not-root", "--log=/dev/null",
                                 "--path-include=*", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=PackageTest.dpkg_env(root), timeout=120, check=False)
        output = result.stdout.decode(errors="replace")
        if result.returncode != 0:
            raise AssertionError("dpkg %s exited %d:\n%s" % (" ".join(args), result.returncode,
                                                             output))
        return output


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
