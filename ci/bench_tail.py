"""The tail-latency half of ci/bench-compare: p99 judged on whole histograms.

Input is shout's result JSON (`shout ping|load --json`) or shout-bench's
histogram files (`SHOUT_BENCH_HISTOGRAMS=DIR`, "kind": "shout-bench
histogram"), one file per repetition. Each file's `results.latency.buckets`
is the whole round-trip histogram (log-linear, 128 buckets per power of two),
so the repetitions of one side can be merged bucket by bucket and a
percentile read off the merge. A file that names its `benchmark` (shout-bench's
do: the Google Benchmark run name) is grouped by that name; a shout result by
its configuration (config_name).

Why not compare.py's U test on each repetition's p99: a p99 from one short run
rests on its top 1% of samples, and on a shared machine those differ by 20% or
more between runs of one build, so five values a side cannot tell a 20%
slowdown from noise (p = 0.0952 for every p99 x1.2). Why a two-level
bootstrap: resampling single samples only would ignore that samples of one
run are correlated and that runs differ more than sampling explains, so two
runs of one build would "differ"; resampling whole repetitions keeps that
run-to-run spread in the interval, and redrawing each chosen repetition's
samples from its own histogram keeps the sampling error too.

A side that holds one run twice (the same `run_id`, or a `shout merge` of it
in `run_ids`) is refused. Pure apart from reading the files: the caller prints. Fixed seed, so a verdict
on fixed files is the same every time. Reads files tolerantly: fields it does
not use (a "format" version, a run "id", ...) are ignored.
"""

import glob
import json
import math
import os

try:
    import numpy
except ImportError:  # reported when the tail gate is used, not on import
    numpy = None

QUANTILE = 0.99
CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 1
MIN_REPETITIONS = 5


class TailError(Exception):
    """A file that is not a usable shout result: the message names it and why."""


def bucket_width(low_ns):
    """shout's layout: a bucket per value under 256 ns, then 128 per power of two."""
    if low_ns < 256:
        return 1
    return 1 << (low_ns.bit_length() - 1 - 7)


def bucket_low(value_ns):
    """The low edge of the bucket holding value_ns (inverse of the layout above)."""
    value_ns = int(value_ns)
    if value_ns < 256:
        return max(value_ns, 0)
    width = bucket_width(value_ns)
    return value_ns - value_ns % width


HISTOGRAM_KIND = "shout-bench histogram"


def is_result(doc):
    """True for a shout result or shout-bench histogram document (not a Google
    Benchmark one): both have config and results objects."""
    return (isinstance(doc, dict) and isinstance(doc.get("results"), dict)
            and isinstance(doc.get("config"), dict))


def _integer(value, what, path):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value != int(value) or value < 0:
        raise TailError(f"{path}: {what} is not a whole number >= 0: {value!r}")
    return int(value)


def side_name(path, doc):
    """The benchmark a file is a repetition of: its "benchmark" if it names one
    (shout-bench's files must), else its configuration's name."""
    name = doc.get("benchmark")
    if isinstance(name, str) and name:
        return name
    if doc.get("kind") == HISTOGRAM_KIND:
        raise TailError(f"{path}: a {HISTOGRAM_KIND} file without its \"benchmark\" name")
    return config_name(doc["config"])


def config_name(config):
    """The benchmark a result file is a repetition of, from its configuration."""
    def get(key, default):
        return config.get(key, default)
    proto = "udp" if get("udp", False) else "tcp"
    mode = "sockperf" if get("sockperf", False) else ("framed" if get("framed", False) else "text")
    name = f"{get('command', '?')}/{proto}/{mode}/{get('size', '?')}"
    if get("command", "") == "load":
        name += f"/c{get('connections', 1)}x{get('pipeline', 1)}"
    rate = get("rate", 0) or 0
    if rate:
        name += f"/rate{rate:g}"
    return name


class Repetition:
    """One file's latency histogram: {bucket low ns: count}, count, min, max."""

    def __init__(self, path, doc):
        self.path = path
        latency = doc["results"].get("latency")
        if not isinstance(latency, dict) or not isinstance(latency.get("buckets"), list):
            raise TailError(f"{path}: no results.latency.buckets histogram")
        self.buckets = {}
        for i, pair in enumerate(latency["buckets"]):
            if not isinstance(pair, list) or len(pair) != 2:
                raise TailError(f"{path}: results.latency.buckets[{i}] is not [low_ns, count]")
            low = _integer(pair[0], f"results.latency.buckets[{i}][0]", path)
            count = _integer(pair[1], f"results.latency.buckets[{i}][1]", path)
            if count:
                self.buckets[low] = self.buckets.get(low, 0) + count
        self.count = sum(self.buckets.values())
        if self.count == 0:
            raise TailError(f"{path}: the latency histogram is empty")
        declared = latency.get("count")
        if declared is not None and _integer(declared, "results.latency.count", path) != self.count:
            raise TailError(f"{path}: results.latency.count is {declared}, "
                            f"its buckets hold {self.count}")
        lows = sorted(self.buckets)
        self.min = _integer(latency.get("min", lows[0]), "results.latency.min", path)
        self.max = _integer(latency.get("max", lows[-1] + bucket_width(lows[-1]) - 1),
                            "results.latency.max", path)


def load_side(label, path):
    """{benchmark name: [Repetition]} from a directory of result files or one file."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.json")))
        if not files:
            raise TailError(f"{label} {path} is a directory without *.json files")
    else:
        files = [path]
    side = {}
    seen = {}   # run id -> file: one run copied twice is not two repetitions
    for name in files:
        try:
            with open(name, encoding="utf-8") as f:
                doc = json.load(f)
        except OSError as e:
            raise TailError(f"cannot read {label} {name}: {e.strerror}") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise TailError(f"{label} {name} is not JSON: {e}") from None
        if not is_result(doc):
            raise TailError(f"{label} {name} is neither a shout result file nor a shout-bench "
                            "histogram file (no config and results objects)")
        ids = doc.get("run_ids") if isinstance(doc.get("run_ids"), list) else [doc.get("run_id")]
        for run_id in ids:
            if isinstance(run_id, str) and run_id:
                if run_id in seen:
                    raise TailError(f"{label} {seen[run_id]} and {name} hold the same run "
                                    f"(run id {run_id}): a repetition would count twice")
                seen[run_id] = name
        side.setdefault(side_name(name, doc), []).append(Repetition(name, doc))
    return side


def _grid(reps):
    lows = sorted(set().union(*(r.buckets for r in reps)))
    # A bucket's midpoint stands for its samples, as shout's own percentiles do.
    values = numpy.array([low + (bucket_width(low) - 1) / 2 for low in lows], dtype=float)
    index = {low: i for i, low in enumerate(lows)}
    matrix = numpy.zeros((len(reps), len(lows)), dtype=numpy.int64)
    for r, rep in enumerate(reps):
        for low, count in rep.buckets.items():
            matrix[r, index[low]] = count
    return values, matrix


def _quantile_rows(counts, values, q):
    """The q-quantile of each row of bucket counts: the rank ceil(q*n) sample's bucket."""
    cum = numpy.cumsum(counts, axis=1)
    rank = numpy.maximum(numpy.ceil(q * cum[:, -1]), 1)
    return values[numpy.argmax(cum >= rank[:, None], axis=1)]


def _bootstrap_side(matrix, values, q, resamples, rng):
    """q-quantiles of `resamples` merged histograms: repetitions drawn with replacement,
    then each drawn repetition's samples redrawn from its own histogram."""
    n = matrix.shape[0]
    totals = matrix.sum(axis=1)
    probs = matrix / totals[:, None]
    picks = rng.integers(0, n, size=(resamples, n))
    merged = numpy.zeros((resamples, matrix.shape[1]), dtype=numpy.int64)
    for slot in range(n):
        for r in range(n):
            rows = numpy.nonzero(picks[:, slot] == r)[0]
            if rows.size:
                merged[rows] += rng.multinomial(totals[r], probs[r], size=rows.size)
    return _quantile_rows(merged, values, q)


def merged_quantile(reps, q=QUANTILE):
    """The q-quantile of the repetitions merged, clamped to their [min, max] like shout's."""
    values, matrix = _grid(reps)
    value = _quantile_rows(matrix.sum(axis=0, keepdims=True), values, q)[0]
    return min(max(value, min(r.min for r in reps)), max(r.max for r in reps))


def judge(base_reps, new_reps, threshold, resamples=DEFAULT_RESAMPLES, seed=DEFAULT_SEED):
    """(status, detail) for one benchmark: ok or REGRESSION.

    5+ repetitions a side: REGRESSION when the merged p99 ratio NEW/BASE is over
    1 + threshold AND the whole CONFIDENCE interval of the ratio lies above 1.
    Fewer: the plain ratio of the merged p99s against 1 + threshold."""
    if numpy is None:
        raise TailError("the tail gate needs numpy: apt-get install python3-numpy")
    old = merged_quantile(base_reps)
    new = merged_quantile(new_reps)
    ratio = new / old
    n, m = len(base_reps), len(new_reps)
    figures = (f"p99 {old / 1000:.4g} us -> {new / 1000:.4g} us ({ratio - 1:+.1%}), "
               f"merged {n} vs {m} repetitions")
    slower = ratio > 1 + threshold
    if n < MIN_REPETITIONS or m < MIN_REPETITIONS:
        how = (f"fewer than {MIN_REPETITIONS} repetitions a side: plain ratio of merged p99, "
               "no confidence interval")
        return ("REGRESSION" if slower else "ok"), f"{figures}, {how}"
    values, base_matrix = _grid(base_reps + new_reps)
    new_matrix = base_matrix[n:]
    base_matrix = base_matrix[:n]
    rng = numpy.random.default_rng(seed)
    boot_old = _bootstrap_side(base_matrix, values, QUANTILE, resamples, rng)
    boot_new = _bootstrap_side(new_matrix, values, QUANTILE, resamples, rng)
    tail = (1 - CONFIDENCE) / 2
    low, high = numpy.quantile(boot_new / boot_old, [tail, 1 - tail])
    how = (f"{CONFIDENCE:.0%} bootstrap CI of the ratio [{low:.3f}, {high:.3f}] "
           f"({resamples} resamples, seed {seed})")
    if slower and low > 1:
        return "REGRESSION", f"{figures}, {how}: above 1"
    if slower:
        return "ok", f"{figures}, {how}: over the threshold but the interval holds 1"
    return "ok", f"{figures}, {how}"
