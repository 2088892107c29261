import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernaryGeneration
import TernaryKernels
import TernaryModels

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure prompt processing and generation speed (llama-bench style).")

    @Option(name: .shortAndLong, help: "Packed model file (default: the shipped model).") var model: String?
    @Option(name: .short, parsing: .unconditional, help: "Prompt tokens for the pp test (0 = skip).") var p: Int = 128
    @Option(name: .short, parsing: .unconditional, help: "Generated tokens for the tg test (0 = skip).") var n: Int = 64
    @Option(name: .short, help: "Thread counts, comma-separated.") var t: String = "\(WorkerPool.coreCount)"
    @Option(name: .short, parsing: .unconditional, help: "Repetitions per test.") var r: Int = 5
    @Option(name: .short, help: ArgumentHelp("Tokens already in the context before each test, comma-separated (llama-bench's -d).",
                                              discussion: "Several depths (e.g. 0,4096) take turns within each repetition, so the machine's drift falls on all of them alike."))
    var d: String = "0"
    @Option(help: "Kernel path (default: the fastest this CPU has).") var kernel: String?
    @Option(name: .customLong("kv-cache"), help: "KV cache precision: f16 (default), q8 or f32.") var kvCache: String = "f16"
    @Option(name: .customLong("ubatch"), help: "Micro-batch: the most prompt tokens one forward step processes.")
    var microBatch: Int = InferenceContext.defaultMicroBatch
    @Option(name: [.long, .customLong("batch")], help: ArgumentHelp("Serving test instead: sequences decoded together on the server's scheduler, comma-separated (e.g. 1,2,4,8,16).",
                               discussion: "Each level sends that many requests at once (-p prompt tokens, -n generated tokens each), -r rounds in which the levels take turns; it reports the aggregate decode tok/s and the time to first token."))
    var parallel: String?
    @Flag(help: "Print a JSON array instead of the table.") var json = false

    var threadCounts: [Int] { Self.counts(t) }
    var parallelLevels: [Int] { parallel.map(Self.counts) ?? [] }
    var depths: [Int] { Self.counts(d) }

    static func counts(_ list: String) -> [Int] { list.split(separator: ",").compactMap { Int($0.filter { $0 != " " }) } }

    func validate() throws {
        guard p >= 0, n >= 0, p + n > 0 else { throw ValidationError("-p and -n must be >= 0 and not both 0") }
        guard r >= 1, r <= 1000 else { throw ValidationError("-r \(r) is invalid: expected 1...1000") }
        guard !depths.isEmpty, depths.count == d.split(separator: ",", omittingEmptySubsequences: false).count, depths.allSatisfy({ $0 >= 0 }) else {
            throw ValidationError("-d \(d) is invalid: expected comma-separated context depths of 0 or more tokens, such as 0,4096")
        }
        let counts = threadCounts
        guard !counts.isEmpty, counts.count == t.split(separator: ",").count, counts.allSatisfy({ $0 >= 1 && $0 <= 1024 }) else {
            throw ValidationError("-t \(t) is invalid: expected comma-separated thread counts such as 1,2")
        }
        if let parallel {
            let levels = parallelLevels
            guard !levels.isEmpty, levels.count == parallel.split(separator: ",").count, levels.allSatisfy({ (1...256).contains($0) }) else {
                throw ValidationError("--parallel \(parallel) is invalid: expected comma-separated sequence counts in 1...256 such as 1,2,4,8")
            }
            guard p >= 1, n >= 2 else { throw ValidationError("--parallel needs -p >= 1 prompt tokens and -n >= 2 generated tokens") }
            guard depths == [0] else { throw ValidationError("-d does not apply to --parallel") }
        }
        _ = try ModelOptions.parse((kernel.map { ["--kernel", $0] } ?? []) + ["--kv-cache", kvCache, "--ubatch", "\(microBatch)"])
    }

    func run() throws {
        if parallel != nil { return try runServing() }
        var rows: [BenchmarkResult] = []
        var tests: [BenchmarkTest] = []
        if p > 0 { tests.append(.prefill(p)) }
        if n > 0 { tests.append(.decode(n)) }
        var name = "", size = 0, kernelName = ""
        for threads in threadCounts {
            var args = ["--threads", "\(threads)", "--kv-cache", kvCache, "--ubatch", "\(microBatch)"]
            if let model { args += ["-m", model] }
            if let kernel { args += ["--kernel", kernel] }
            let options = try ModelOptions.parse(args)
            let context = options.context()
            let lm = try options.load()
            name = lm.file.file.metadata["synthetic"].map { "\(lm.architecture) \($0) (synthetic)" } ?? "\(lm.architecture) \(URL(fileURLWithPath: lm.file.path).lastPathComponent)"
            size = lm.file.file.fileSize
            kernelName = lm.kernels.isa.rawValue
            guard depths.max()! + max(p, n) <= lm.contextLength else {
                throw ValidationError("-d \(depths.max()!) plus \(max(p, n)) test tokens exceeds the model's context of \(lm.contextLength) positions")
            }
            if !json { printError("benchmarking \(threads) thread(s), kernel \(lm.kernels.isa)…") }
            rows += try Benchmark.run(model: lm, context: context, memoryOptions: options.memoryOptions, tests: tests, repetitions: r, depths: depths)
        }
        let rss = Benchmark.peakResidentBytes()
        if json {
            let objects: [String] = rows.map { row in
                var fields = ["\"test\":\"\(row.test)\"", "\"depth\":\(row.depth)", "\"threads\":\(row.threads)", "\"tokens_per_second\":\(row.tokensPerSecond)",
                              "\"stddev\":\(row.standardDeviation)", "\"median\":\(row.median)", "\"probe_bandwidth_bytes_per_second\":\(row.probeBandwidth)"]
                fields.append("\"stream_bandwidth_bytes_per_second\":\(row.streamBandwidth)")
                if let f = row.rooflineFraction { fields.append("\"roofline_fraction\":\(f)") }
                if let f = row.streamFraction { fields.append("\"stream_fraction\":\(f)") }
                if let f = row.computeFraction { fields.append("\"compute_fraction\":\(f)") }
                if let peak = row.computePeak { fields.append("\"compute_peak_macs_per_second\":\(peak)") }
                fields.append("\"kernel\":\"\(kernelName)\"")
                fields.append("\"peak_rss_bytes\":\(rss)")
                fields.append("\"kv_cache\":\"\(kvCache)\"")
                return "{" + fields.joined(separator: ",") + "}"
            }
            print("[" + objects.joined(separator: ",") + "]")
            return
        }
        print("| model | size | threads | test | t/s | median | weights GB/s | probe GB/s | roofline | STREAM GB/s | of STREAM | of int8 peak |")
        print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        func percent(_ f: Double?) -> String { f.map { ($0 * 100).fixed(0) + " %" } ?? "–" }
        for row in rows {
            let weights = row.weightBandwidth.map { ($0 / 1e9).fixed(1) } ?? "–"
            let speed = row.tokensPerSecond.fixed(2) + " ± " + row.standardDeviation.fixed(2)
            let probe = (row.probeBandwidth / 1e9).fixed(1), stream = (row.streamBandwidth / 1e9).fixed(1)
            let test = row.depth > 0 ? "\(row.test) @ d\(row.depth)" : "\(row.test)"
            print("| \(name) | \(formatBytes(size)) | \(row.threads) | \(test) | \(speed) | \(row.median.fixed(2)) | \(weights) | \(probe) | "
                  + "\(percent(row.rooflineFraction)) | \(stream) | \(percent(row.streamFraction)) | \(percent(row.computeFraction)) |")
        }
        if let peak = rows.first?.computePeak {
            print("\nint8 dot-product peak (\(kernelName), \(rows[0].threads) thread(s)): \((peak / 1e9).fixed(0)) G multiply-adds/s; of int8 peak: prefill's")
            print("multiply-adds per second (the head once per prompt) divided by it")
        }
        print("\npeak RSS: \(formatBytes(rss)); KV cache: \(kvCache); micro-batch: \(microBatch)")
        print("t/s: mean ± standard deviation of \(r) run(s) (the tests and depths take turns in each round); weights GB/s and the")
        print("fractions: from the mean")
        print("probe: the decode step's weight matrices read by the same threads with the kernels' software prefetches,")
        print("best pass before or after the tests (the roofline); STREAM: the same read as a plain loop")
    }

    /// `--parallel`: the serving benchmark, one row per thread count and level.
    func runServing() throws {
        var rows: [(name: String, result: ServingResult)] = []
        for threads in threadCounts {
            var args = ["--threads", "\(threads)", "--kv-cache", kvCache, "--ubatch", "\(microBatch)"]
            if let model { args += ["-m", model] }
            if let kernel { args += ["--kernel", kernel] }
            let options = try ModelOptions.parse(args)
            let lm = try options.load()
            guard p + n < lm.contextLength else {
                throw ValidationError("-p \(p) plus -n \(n) exceeds the model's context of \(lm.contextLength) positions")
            }
            let name = lm.file.file.metadata["synthetic"].map { "\(lm.architecture) \($0) (synthetic)" } ?? "\(lm.architecture) \(URL(fileURLWithPath: lm.file.path).lastPathComponent)"
            let levels = parallelLevels
            if !json {
                printError("serving \(levels.map(String.init).joined(separator: ", ")) sequence(s) in turn on \(threads) thread(s), kernel \(lm.kernels.isa)…")
            }
            let results = try ServingBenchmark.run(model: lm, levels: levels, promptTokens: p, generate: n, rounds: r, threads: threads,
                                                   kvPrecision: options.memoryOptions.kvPrecision, prefillChunk: microBatch)
            rows += results.map { (name, $0) }
        }
        if json {
            let objects = rows.map { _, row in
                "{\"test\":\"serve pp\(p)+tg\(n)\",\"parallel\":\(row.parallel),\"threads\":\(row.threads),\"requests\":\(row.requests),"
                    + "\"aggregate_decode_tokens_per_second\":\(row.medianAggregateDecode),\"ttft_p50_seconds\":\(row.ttftP50),"
                    + "\"ttft_p99_seconds\":\(row.ttftP99),\"kv_cache\":\"\(kvCache)\"}"
            }
            print("[" + objects.joined(separator: ",") + "]")
            return
        }
        print("| model | threads | parallel | requests | decode t/s (all sequences) | per sequence | vs. 1 sequence | TTFT p50 | TTFT p99 |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for (name, row) in rows {
            let single = rows.first { $0.result.threads == row.threads && $0.result.parallel == 1 }?.result.medianAggregateDecode
            let ratio = single.map { (row.medianAggregateDecode / $0).fixed(2) + "×" } ?? "–"
            print("| \(name) | \(row.threads) | \(row.parallel) | \(row.requests) | \(row.medianAggregateDecode.fixed(2)) | "
                  + "\((row.medianAggregateDecode / Double(row.parallel)).fixed(2)) | \(ratio) | \((row.ttftP50 * 1000).fixed(0)) ms | \((row.ttftP99 * 1000).fixed(0)) ms |")
        }
        print("\nrequests arrive together, pp\(p) + tg\(n) each (end of text ignored), greedy; the levels take turns in each round; decode")
        print("t/s: median over \(r) round(s) of the tokens per second summed over the sequences; TTFT: the one prefill step over all the prompts")
    }
}
