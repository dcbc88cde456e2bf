// gbench_shim: gbench.h implemented on Google Benchmark 1.7.1 (Debian's
// libbenchmark). The only C++ in shout: it turns C calls into State and
// Benchmark calls, counts failed runs (so shout-bench can exit non-zero), and
// adds two reporters around the library's own: one that hands the values
// that calls kept to the sink once their runs are reported, and a JSON file
// reporter that writes percentile rows and never writes NaN.

#include "gbench.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

using benchmark::BenchmarkReporter;
using benchmark::Counter;
using benchmark::State;
using benchmark::internal::Benchmark;

// The C flag bits are Google Benchmark's, bit for bit: checked here so that
// a library upgrade that moves them fails the build instead of the numbers.
static_assert(GBENCH_COUNTER_DEFAULT == static_cast<uint32_t>(Counter::kDefaults), "flags");
static_assert(GBENCH_COUNTER_RATE == static_cast<uint32_t>(Counter::kIsRate), "flags");
static_assert(GBENCH_COUNTER_AVG_THREADS == static_cast<uint32_t>(Counter::kAvgThreads), "flags");
static_assert(GBENCH_COUNTER_ITERATION_INVARIANT ==
                  static_cast<uint32_t>(Counter::kIsIterationInvariant),
              "flags");
static_assert(GBENCH_COUNTER_AVG_ITERATIONS == static_cast<uint32_t>(Counter::kAvgIterations),
              "flags");
static_assert(GBENCH_COUNTER_INVERT == static_cast<uint32_t>(Counter::kInvert), "flags");
static_assert((GBENCH_COUNTER_KIBI & (GBENCH_COUNTER_RATE | GBENCH_COUNTER_AVG_THREADS |
                                      GBENCH_COUNTER_ITERATION_INVARIANT |
                                      GBENCH_COUNTER_AVG_ITERATIONS | GBENCH_COUNTER_INVERT)) == 0,
              "the KIBI bit must not be one of Google Benchmark's");
static_assert(GBENCH_NS == static_cast<int>(benchmark::kNanosecond), "units");
static_assert(GBENCH_US == static_cast<int>(benchmark::kMicrosecond), "units");
static_assert(GBENCH_MS == static_cast<int>(benchmark::kMillisecond), "units");
static_assert(GBENCH_S == static_cast<int>(benchmark::kSecond), "units");

// The opaque C handles are the library's own objects.
static Benchmark *shim_bench(gbench_bench *b)
{
    return reinterpret_cast<Benchmark *>(b);
}

static gbench_bench *shim_handle(Benchmark *b)
{
    return reinterpret_cast<gbench_bench *>(b);
}

static State &shim_state(gbench_state *st)
{
    return *reinterpret_cast<State *>(st);
}

static const State &shim_state(const gbench_state *st)
{
    return *reinterpret_cast<const State *>(st);
}

// --- Kept values (gbench_keep) ----------------------------------------------

namespace
{

// One call of a registered function: what it kept, and what it ran, which is
// what its run reports if it turns out to be one.
struct ShimCall {
    void *value = nullptr;
    void (*release)(void *) = nullptr;
    int64_t iterations = 0;
    bool error = false;
};

void shim_release(ShimCall &call)
{
    if (call.value && call.release)
        call.release(call.value);
    call.value = nullptr;
}

// Every call of one registered name since that benchmark was last reported,
// in call order. A std::map, so that the pointers the lambdas hold stay valid.
std::map<std::string, std::vector<ShimCall>> shim_calls;

// The call in progress on this thread: the state it was given and its record.
struct ShimCurrent {
    const State *state = nullptr;
    ShimCall *call = nullptr;
};
thread_local ShimCurrent shim_current;

gbench_kept_fn shim_sink = nullptr;
void *shim_sink_user = nullptr;

// Values kept by multi-threaded runs, whose calls are not recorded (their
// threads make one run together); any makes gbench_main return 1. Atomic:
// those threads may all try at once.
std::atomic<int> shim_refused{0};

// Runs that failed, counted where they fail rather than where they are shown:
// with --benchmark_display_aggregates_only (or report_) the display reporter
// gets only the aggregates, which leave failed repetitions out, so it alone
// would let a run with a failed repetition exit 0. A failed call is always a
// run: the library reports the call in which an error occurred.
std::atomic<int> shim_failed{0};

} // namespace

void gbench_set_kept_sink(gbench_kept_fn sink, void *user)
{
    shim_sink = sink;
    shim_sink_user = user;
}

void gbench_keep(gbench_state *st, void *value, void (*release)(void *value))
{
    ShimCall *call = shim_current.state == &shim_state(st) ? shim_current.call : nullptr;
    if (!call) {
        if (shim_refused.fetch_add(1) == 0)
            std::fprintf(stderr, "gbench: a multi-threaded run cannot keep values; released\n");
        if (release)
            release(value);
        return;
    }
    shim_release(*call);
    call->value = value;
    call->release = release;
}

// --- Registering ------------------------------------------------------------

gbench_bench *gbench_register(const char *name, gbench_fn fn, void *user)
{
    std::vector<ShimCall> *calls = &shim_calls[name];
    return shim_handle(benchmark::RegisterBenchmark(name, [fn, user, calls](State &st) {
        gbench_state *c_state = reinterpret_cast<gbench_state *>(&st);
        if (st.threads() != 1) {
            fn(c_state, user);
            return;
        }
        // Every call is recorded, kept value or not: which calls were runs
        // is decided by counting calls (shim_deliver_kept).
        ShimCall call;
        shim_current = {&st, &call};
        fn(c_state, user);
        shim_current = {};
        call.iterations = st.iterations();
        call.error = st.error_occurred();
        calls->push_back(call);
    }));
}

gbench_bench *gbench_arg(gbench_bench *b, int64_t x)
{
    return shim_handle(shim_bench(b)->Arg(x));
}

gbench_bench *gbench_args(gbench_bench *b, const int64_t *args, size_t n)
{
    return shim_handle(shim_bench(b)->Args(std::vector<int64_t>(args, args + n)));
}

gbench_bench *gbench_arg_list(gbench_bench *b, const int64_t *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        shim_bench(b)->Arg(values[i]);
    return b;
}

gbench_bench *gbench_range(gbench_bench *b, int64_t lo, int64_t hi)
{
    return shim_handle(shim_bench(b)->Range(lo, hi));
}

gbench_bench *gbench_range_multiplier(gbench_bench *b, int multiplier)
{
    return shim_handle(shim_bench(b)->RangeMultiplier(multiplier));
}

gbench_bench *gbench_use_real_time(gbench_bench *b)
{
    return shim_handle(shim_bench(b)->UseRealTime());
}

gbench_bench *gbench_use_manual_time(gbench_bench *b)
{
    return shim_handle(shim_bench(b)->UseManualTime());
}

gbench_bench *gbench_unit(gbench_bench *b, enum gbench_unit unit)
{
    return shim_handle(shim_bench(b)->Unit(static_cast<benchmark::TimeUnit>(unit)));
}

gbench_bench *gbench_iterations(gbench_bench *b, int64_t n)
{
    return shim_handle(shim_bench(b)->Iterations(n));
}

gbench_bench *gbench_min_time(gbench_bench *b, double seconds)
{
    return shim_handle(shim_bench(b)->MinTime(seconds));
}

gbench_bench *gbench_repetitions(gbench_bench *b, int n)
{
    return shim_handle(shim_bench(b)->Repetitions(n));
}

void gbench_add_context(const char *key, const char *value)
{
    benchmark::AddCustomContext(key, value);
}

// --- Inside a benchmark -----------------------------------------------------

int64_t gbench_next_batch(gbench_state *st, int64_t max_batch)
{
    State &s = shim_state(st);
    int64_t n = max_batch > 0 ? max_batch : 1;
    // Never ask for more than is left, so the run does exactly max_iterations
    // (KeepRunningBatch would otherwise overshoot by up to a batch, and the
    // caller would have to know). Before the loop starts iterations() is 0.
    int64_t left = s.max_iterations - s.iterations();
    if (left > 0 && left < n)
        n = left;
    return s.KeepRunningBatch(n) ? n : 0;
}

int64_t gbench_state_arg(const gbench_state *st, size_t pos)
{
    return shim_state(st).range(pos);
}

int64_t gbench_state_iterations(const gbench_state *st)
{
    return shim_state(st).iterations();
}

void gbench_pause(gbench_state *st)
{
    shim_state(st).PauseTiming();
}

void gbench_resume(gbench_state *st)
{
    shim_state(st).ResumeTiming();
}

void gbench_set_iteration_time(gbench_state *st, double seconds)
{
    shim_state(st).SetIterationTime(seconds);
}

void gbench_set_bytes_processed(gbench_state *st, int64_t bytes)
{
    shim_state(st).SetBytesProcessed(bytes);
}

void gbench_set_items_processed(gbench_state *st, int64_t items)
{
    shim_state(st).SetItemsProcessed(items);
}

void gbench_set_counter(gbench_state *st, const char *name, double value, uint32_t flags)
{
    Counter::OneK one_k = (flags & GBENCH_COUNTER_KIBI) ? Counter::kIs1024 : Counter::kIs1000;
    // Through int: kInvert is INT_MIN as the enum's underlying type.
    auto bits = static_cast<Counter::Flags>(static_cast<int>(flags & ~GBENCH_COUNTER_KIBI));
    shim_state(st).counters[name] = Counter(value, bits, one_k);
}

void gbench_set_label(gbench_state *st, const char *label)
{
    shim_state(st).SetLabel(label);
}

void gbench_skip_with_error(gbench_state *st, const char *message)
{
    // The first reason is the one reported; a later one must not trip the library.
    if (!shim_state(st).error_occurred()) {
        shim_state(st).SkipWithError(message);
        shim_failed.fetch_add(1);
    }
}

// --- Reporting --------------------------------------------------------------

namespace
{

// The benchmarks (family, instance) whose values have been handed over.
std::set<std::pair<int64_t, int64_t>> shim_delivered;

// Which calls were the reported runs, and so whose values go to the sink.
//
// The rule comes from Google Benchmark 1.7.1's runner (DoOneRepetition in
// benchmark_runner.cc). A benchmark's first repetition calls the function
// with growing iteration counts until one call runs long enough, and that
// last call is the repetition's run (warm-up calls, if asked for, come
// before). Every later repetition calls it once, with the count found.
// Nothing calls it after a repetition's run: only a memory manager would,
// and the shim installs none. A benchmark's runs are reported together
// once all its repetitions are done, with random interleaving too, which
// mixes the repetitions of different benchmarks but not the order of one
// benchmark's calls. So when a benchmark with K repetitions is reported,
// the last K calls of its name are its K runs in repetition order, and
// every earlier call was a probe of the search (or a warm-up).
//
// K: the display reporter gets every report, either the runs or, with
// --benchmark_display_aggregates_only or --benchmark_report_aggregates_only,
// only their aggregates, which carry the repetitions. The aggregates that follow a report's runs
// are the same report and are skipped. Where the runs are visible, each
// must report the iterations and error of its call, so a library whose
// runner calls differently is caught instead of mislabelling values.
//
// Returns the number of failures: values that could not be matched (with a
// message) and sink calls that failed.
int shim_deliver_kept(const std::vector<BenchmarkReporter::Run> &runs)
{
    if (runs.empty())
        return 0;
    const BenchmarkReporter::Run &first = runs.front();
    if (!shim_delivered.emplace(first.family_index, first.per_family_instance_index).second)
        return 0;
    auto found = shim_calls.find(first.run_name.function_name);
    if (found == shim_calls.end())
        return 0;
    std::vector<ShimCall> calls;
    calls.swap(found->second);

    std::vector<const BenchmarkReporter::Run *> reported;
    for (const BenchmarkReporter::Run &run : runs)
        if (run.run_type == BenchmarkReporter::Run::RT_Iteration)
            reported.push_back(&run);
    size_t k = reported.empty() ? static_cast<size_t>(first.repetitions) : reported.size();
    bool kept = std::any_of(calls.begin(), calls.end(),
                            [](const ShimCall &call) { return call.value != nullptr; });
    std::string name = first.run_name.str();
    const char *why = nullptr;
    if (kept && !first.run_name.args.empty())
        // Its instances share the registered name, so their calls share a list.
        why = "a benchmark with arguments cannot keep values";
    else if (kept && calls.size() < k)
        why = "fewer calls than reported runs";
    size_t base = calls.size() - std::min(k, calls.size());
    for (size_t j = 0; kept && !why && j < reported.size(); j++) {
        const ShimCall &call = calls[base + j];
        if (reported[j]->repetition_index != static_cast<int64_t>(j) ||
            reported[j]->iterations != call.iterations || reported[j]->error_occurred != call.error)
            why = "its calls do not match its reported runs";
    }

    int failures = 0;
    if (why) {
        std::fprintf(stderr, "gbench: %s: %s; the values its calls kept are dropped\n",
                     name.c_str(), why);
        failures++;
    } else if (kept && shim_sink) {
        for (size_t j = 0; j < k; j++) {
            const ShimCall &call = calls[base + j];
            if (!call.value)
                continue;
            gbench_run run = {name.c_str(), call.iterations, static_cast<int64_t>(j),
                              static_cast<int64_t>(k), call.error};
            if (shim_sink(&run, call.value, shim_sink_user) != 0)
                failures++;
        }
    }
    for (ShimCall &call : calls)
        shim_release(call);
    return failures;
}

// Frees what no report claimed: nothing when every benchmark got to its report.
void shim_release_all()
{
    for (auto &entry : shim_calls) {
        for (ShimCall &call : entry.second)
            shim_release(call);
        entry.second.clear();
    }
    shim_delivered.clear();
}

// Wraps the display reporter the flags asked for, to hand kept values over
// once their runs are reported, and count the ones that could not be. Failed
// runs are counted where they fail (shim_failed): the display may see only
// aggregates.
class ShimDisplayReporter : public BenchmarkReporter
{
  public:
    explicit ShimDisplayReporter(BenchmarkReporter *inner) : inner_(inner)
    {
    }

    bool ReportContext(const Context &context) override
    {
        return inner_->ReportContext(context);
    }

    void ReportRuns(const std::vector<Run> &runs) override
    {
        inner_->ReportRuns(runs);
        kept_failures_ += shim_deliver_kept(runs);
    }

    void Finalize() override
    {
        inner_->Finalize();
    }

    int kept_failures() const
    {
        return kept_failures_;
    }

  private:
    BenchmarkReporter *inner_;
    int kept_failures_ = 0;
};

// The counters that become rows of their own, and the suffix of each row.
struct ShimPercentile {
    const char *counter;
    const char *suffix;
};
const ShimPercentile shim_percentiles[] = {{"p50_ns", "p50"}, {"p99_ns", "p99"}};

double shim_finite(double v)
{
    return std::isfinite(v) ? v : 0.0;
}

// Strict JSON has no NaN or Infinity, and Google Benchmark writes them bare
// (a 0/0 coefficient of variation of an all-zero counter, a rate over zero
// time). They become 0.
void shim_make_finite(BenchmarkReporter::Run &run)
{
    run.real_accumulated_time = shim_finite(run.real_accumulated_time);
    run.cpu_accumulated_time = shim_finite(run.cpu_accumulated_time);
    run.max_heapbytes_used = shim_finite(run.max_heapbytes_used);
    run.allocs_per_iter = shim_finite(run.allocs_per_iter);
    for (auto &kv : run.counters)
        kv.second.value = shim_finite(kv.second.value);
}

// A row named "<run's name>/<suffix>" whose times are value_ns. The JSON
// reporter divides accumulated time by the iterations (and writes
// percentage aggregates, such as _cv, as they are), so that is undone here.
BenchmarkReporter::Run shim_percentile_row(const BenchmarkReporter::Run &run, const char *suffix,
                                           double value_ns)
{
    BenchmarkReporter::Run row = run;
    row.run_name = benchmark::BenchmarkName();
    row.run_name.function_name = run.run_name.str() + "/" + suffix;
    row.counters.clear();
    double accumulated;
    if (run.run_type == BenchmarkReporter::Run::RT_Aggregate &&
        run.aggregate_unit == benchmark::kPercentage) {
        accumulated = value_ns; // a ratio, such as the coefficient of variation
    } else {
        double seconds = value_ns * 1e-9;
        accumulated = run.iterations != 0 ? seconds * static_cast<double>(run.iterations) : seconds;
    }
    row.real_accumulated_time = accumulated;
    row.cpu_accumulated_time = accumulated;
    return row;
}

// The JSON file reporter, with the percentile rows after each group's runs.
class ShimJsonReporter : public benchmark::JSONReporter
{
  public:
    void ReportRuns(const std::vector<Run> &runs) override
    {
        std::vector<Run> rows(runs);
        for (Run &run : rows)
            shim_make_finite(run);
        std::vector<Run> percentile_rows;
        for (const ShimPercentile &p : shim_percentiles) {
            for (const Run &run : rows) {
                if (run.error_occurred || run.report_big_o || run.report_rms)
                    continue;
                auto it = run.counters.find(p.counter);
                if (it != run.counters.end())
                    percentile_rows.push_back(shim_percentile_row(run, p.suffix, it->second.value));
            }
        }
        rows.insert(rows.end(), percentile_rows.begin(), percentile_rows.end());
        JSONReporter::ReportRuns(rows);
    }
};

// The value of --NAME=VALUE as Google Benchmark will see it: the last one on
// the command line, else the BENCHMARK_NAME environment variable, else "".
// Read before Initialize, which removes the flags it takes from argv.
std::string shim_flag_value(int argc, char **argv, const char *name, const char *env)
{
    std::string prefix = std::string("--") + name + "=";
    std::string value;
    bool found = false;
    for (int i = 1; i < argc; i++) {
        if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
            value = argv[i] + prefix.size();
            found = true;
        }
    }
    if (!found) {
        const char *from_env = std::getenv(env);
        if (from_env)
            value = from_env;
    }
    return value;
}

} // namespace

int gbench_main(int argc, char **argv)
{
    std::string out = shim_flag_value(argc, argv, "benchmark_out", "BENCHMARK_OUT");
    std::string out_format =
        shim_flag_value(argc, argv, "benchmark_out_format", "BENCHMARK_OUT_FORMAT");
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 2;

    ShimDisplayReporter display(benchmark::CreateDefaultDisplayReporter());
    ShimJsonReporter json;
    // Without --benchmark_out the library refuses a file reporter; with
    // another format (csv, console) it makes its own.
    bool ours = !out.empty() && (out_format.empty() || out_format == "json");
    benchmark::RunSpecifiedBenchmarks(&display, ours ? &json : nullptr);
    benchmark::Shutdown();
    shim_release_all();
    // Google Benchmark itself exits 0 whatever happened.
    return shim_failed.load() > 0 || display.kept_failures() > 0 || shim_refused.load() > 0 ? 1 : 0;
}
