"""`cpack -G DEB` makes a .deb of what `cmake --install` puts under /usr: the
programs, the man pages (gzipped), the bash completions and the systemd unit (whose
ExecStart is /usr/bin/shoutd), with the dependencies dpkg-shlibdeps found
(libseccomp2, libjansson4). The package is built into a scratch directory,
never into the build tree."""

import glob
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


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
