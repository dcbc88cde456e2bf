"""cmake --install into a scratch prefix puts the programs, the man pages
(shoutd.8.gz, shout.1.gz, shout-bench.1.gz: compressed as Debian does, with
gzip -9n), the bash completions and the systemd unit where Debian would;
`man` renders each page, by file and found through MANPATH, shoutd's with
every option that `shoutd --help` lists (both come from one table), and the
unit runs the prefix's shoutd."""

import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD_DIR = sys.argv[1] if len(sys.argv) > 1 else None
SHOUTD = sys.argv[2] if len(sys.argv) > 2 else None


class InstallTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not BUILD_DIR or not shutil.which("man"):
            raise unittest.SkipTest("needs the build directory and man (man-db)")
        cls.prefix = tempfile.mkdtemp(prefix="shout-install-")
        subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", cls.prefix],
                       check=True, capture_output=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.prefix, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.prefix, *parts)

    def test_programs_are_in_bin(self):
        for program in ("shoutd", "shout"):
            with self.subTest(program=program):
                self.assertTrue(os.access(self.path("bin", program), os.X_OK))
        result = subprocess.run([self.path("bin", "shoutd"), "--version"], capture_output=True,
                                timeout=30, check=False)
        self.assertEqual(result.returncode, 0)
        self.assertTrue(result.stdout.startswith(b"shoutd "))

    def test_systemd_unit_is_in_lib_systemd_system(self):
        with open(self.path("lib", "systemd", "system", "shoutd.service")) as unit:
            text = unit.read()
        exec_start = re.findall(r"^ExecStart=(\S+)", text, re.M)
        self.assertEqual(exec_start, [self.path("bin", "shoutd")])

    def test_bash_completions_are_installed(self):
        directory = self.path("share", "bash-completion", "completions")
        for program, expected in (("shout", ("send", "merge", "--port", "--connections")),
                                  ("shoutd", ("--listen", "--max-conns"))):
            with self.subTest(program=program):
                with open(os.path.join(directory, program)) as script:
                    text = script.read()
                self.assertIn("complete -o default -F _%s %s" % (program, program), text)
                for word in expected:
                    self.assertIn(word, text)
                if shutil.which("bash"):
                    subprocess.run(["bash", "-n", os.path.join(directory, program)], check=True,
                                   timeout=30)

    # (section, program): every page the install has.
    PAGES = (("1", "shout"), ("1", "shout-bench"), ("8", "shoutd"))

    def page(self, section, program):
        return self.path("share", "man", "man" + section, program + "." + section + ".gz")

    def man(self, *args):
        env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100", LANG="C.UTF-8",
                   MANPATH=self.path("share", "man"))
        result = subprocess.run(["man", *args], capture_output=True, env=env, timeout=60,
                                check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        # man may hyphenate or use Unicode hyphens: compare on plain hyphens.
        text = result.stdout.decode(errors="replace")
        return text.replace("\u2010", "-").replace("\u2212", "-")

    def test_man_pages_are_gzipped_reproducibly(self):
        for section, program in self.PAGES:
            with self.subTest(program=program):
                page = self.page(section, program)
                uncompressed = page[:-len(".gz")]
                self.assertTrue(os.path.exists(page), page)
                self.assertFalse(os.path.exists(uncompressed), uncompressed)
                with open(page, "rb") as f:
                    header = f.read(10)
                # RFC 1952: magic, deflate; FLG without FNAME (gzip -n: no
                # name), MTIME zero (-n: no timestamp), XFL 2 (-9).
                self.assertEqual(header[:3], b"\x1f\x8b\x08")
                self.assertEqual(header[3] & 0x08, 0, "file name stored: not gzip -n")
                self.assertEqual(header[4:8], b"\0\0\0\0", "timestamp stored: not gzip -n")
                self.assertEqual(header[8], 2, "not gzip -9")
                with gzip.open(page, "rb") as f:
                    self.assertTrue(f.read().startswith(b".\\\""))  # help2man's .\" comment

    def test_man_finds_every_page_through_manpath(self):
        for section, program in self.PAGES:
            with self.subTest(program=program):
                self.assertEqual(self.man("-w", section, program).strip(),
                                 self.page(section, program))
                self.assertIn(program, self.man(section, program))

    def test_every_page_has_a_synopsis_of_its_usage_lines(self):
        # help2man makes a SYNOPSIS only of "Usage:" lines (and "  or:" ones).
        for (section, program), usages in zip(self.PAGES, (
                ("shout send [OPTIONS]", "shout ping [OPTIONS]", "shout load [OPTIONS]",
                 "shout merge FILE.json"),
                ("shout-bench [--benchmark_FLAG=VALUE...]",),
                ("shoutd [OPTIONS]",))):
            with self.subTest(program=program):
                rendered = self.man("-l", self.page(section, program))
                synopsis = re.search(r"^SYNOPSIS\n(.*?)^\S", rendered, re.M | re.S)
                self.assertIsNotNone(synopsis, rendered[:400])
                for usage in usages:
                    self.assertIn(usage, synopsis.group(1))

    def test_man_renders_the_section_1_pages(self):
        for program, expected in (("shout", ("SUBCOMMANDS", "shout load", "--connections")),
                                  ("shout-bench", ("SHOUT_BENCH_CLIENT_CPU",))):
            with self.subTest(program=program):
                rendered = self.man("-l", self.page("1", program))
                for word in expected:
                    self.assertIn(word, rendered)

    def test_man_renders_the_installed_page_with_every_option(self):
        rendered = self.man("-l", self.page("8", "shoutd"))
        help_text = subprocess.run([SHOUTD, "--help"], capture_output=True, check=True,
                                   timeout=30).stdout.decode()
        options = set(re.findall(r"--[a-z][a-z0-9-]+", help_text))
        self.assertGreater(len(options), 20)
        for option in sorted(options):
            with self.subTest(option=option):
                self.assertIn(option, rendered)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
