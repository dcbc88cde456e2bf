#!/usr/bin/env python3
"""The documentation a newcomer reads first must not lie.

Two promises, each a test:
- every relative Markdown link in README.md, HACKING.md, docs/, bench/ and
  fuzz/ points at a file in the tree, and at a heading of it when it names one;
- every command in the README's "Quick start" and "One measurement" runs
  and exits 0, against the shoutd and shout this build made (SHOUTD and
  SHOUT, from CMake), with shoutd on a free port (--port 0) instead of 7680
  so that the test can run beside others, in a scratch directory for the
  files the commands write.
"""
import glob
import os
import re
import shlex
import signal
import subprocess
import tempfile
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOCS = ["README.md", "HACKING.md", "bench/README.md", "fuzz/README.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose_lines(text):
    """The lines outside ``` fences: a link in a code block is not a link."""
    fenced = False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def anchors(text):
    """GitHub's heading slugs: lower case, punctuation dropped, spaces to
    hyphens, and -1, -2 ... on repeats."""
    seen = {}
    for line in prose_lines(text):
        m = re.match(r"^#+ (.*)$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        yield slug if n == 0 else "%s-%d" % (slug, n)


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


class DocsTest(unittest.TestCase):
    def test_relative_links_point_at_files_and_headings_that_exist(self):
        broken = []
        for doc in DOCS:
            for line in prose_lines(read(doc)):
                for target in LINK.findall(line):
                    if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                        continue  # http:, https:, mailto: are not ours to check
                    path, _, anchor = target.partition("#")
                    rel = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
                    if rel.startswith(".."):
                        broken.append("%s: %s leaves the repository" % (doc, target))
                    elif not os.path.exists(os.path.join(ROOT, rel)):
                        broken.append("%s: %s does not exist" % (doc, target))
                    elif anchor and rel.endswith(".md") and anchor not in set(anchors(read(rel))):
                        broken.append("%s: %s has no heading #%s" % (doc, target, anchor))
        self.assertEqual(broken, [])

    def section_commands(self, title):
        """The commands of the README section's ```sh code blocks, comments
        dropped, one list of words each."""
        section = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), read("README.md"),
                            re.M | re.S)
        self.assertIsNotNone(section, "README.md has no '## %s' section" % title)
        blocks = re.findall(r"^```sh\n(.*?)^```", section.group(1), re.M | re.S)
        self.assertTrue(blocks, "'## %s' shows no ```sh block" % title)
        return [shlex.split(line, comments=True) for block in blocks
                for line in block.split("\n") if shlex.split(line, comments=True)]

    def run_section(self, title):
        shoutd_bin, shout_bin = os.environ["SHOUTD"], os.environ["SHOUT"]
        server, port = None, None
        with tempfile.TemporaryDirectory() as scratch:
            try:
                for words in self.section_commands(title):
                    shown = " ".join(words)
                    if words[0] == "build/dev/server/shoutd" and words[-1] == "&":
                        self.assertIsNone(server, "%s starts shoutd twice" % title)
                        # --port 0: a free port, printed alone on stdout's first line.
                        server = subprocess.Popen([shoutd_bin] + words[1:-1] + ["--port", "0"],
                                                  stdout=subprocess.PIPE,
                                                  stderr=subprocess.DEVNULL, text=True,
                                                  cwd=scratch)
                        port = server.stdout.readline().strip()
                        self.assertRegex(port, r"^[0-9]+$", "shoutd --port 0 printed no port")
                    elif words[0] == "build/dev/client/shout":
                        self.assertIsNotNone(server, "%s runs before shoutd is started" % shown)
                        # Right after the subcommand: after send's TEXT it would be text.
                        run = subprocess.run([shout_bin, words[1], "--port", port] + words[2:],
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                             text=True, timeout=60, cwd=scratch)
                        self.assertEqual(run.returncode, 0, "%s:\n%s" % (shown, run.stdout))
                    elif words == ["kill", "%1"]:
                        self.assertIsNotNone(server, "kill %1 with no shoutd started")
                        server.send_signal(signal.SIGTERM)
                        self.assertEqual(server.wait(timeout=30), 0,
                                         "shoutd's exit status on SIGTERM")
                        server = None
                    else:
                        self.fail("%s shows a command this test cannot run: %s" % (title, shown))
                self.assertIsNone(server, "%s leaves shoutd running" % title)
            finally:
                if server is not None:
                    server.kill()
                    server.wait()
            return sorted(os.listdir(scratch))

    def test_every_quick_start_command_exits_0(self):
        self.run_section("Quick start")

    def test_the_one_measurement_runs_and_keeps_its_json(self):
        written = self.run_section("One measurement")
        self.assertEqual(written, ["tcp.json", "udp.json"])


if __name__ == "__main__":
    unittest.main()
