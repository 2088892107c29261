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
import TernaryKernels
import TernaryModels

/// llama-bench-style measurements: prompt processing (one batched forward of `tokens`) and
/// token generation (`tokens` single-token forwards), each from an empty context or after a
/// `depth` of earlier tokens (llama-bench's -d; several depths take turns, see `Benchmark.run`).
public enum BenchmarkTest: Sendable, CustomStringConvertible {
    case prefill(Int)
    case decode(Int)

    public var description: String {
        switch self {
        case let .prefill(n): "pp\(n)"
        case let .decode(n): "tg\(n)"
        }
    }

    var tokens: Int {
        switch self {
        case let .prefill(n), let .decode(n): n
        }
    }
}

public struct BenchmarkResult: Sendable {
    public let test: BenchmarkTest
    /// Tokens already in the context when each measured run starts.
    public let depth: Int
    public let threads: Int
    public let tokensPerSecond: Double
    public let standardDeviation: Double
    /// The median run's tokens per second (robust to one run that a neighbour slowed down).
    public let median: Double
    /// Bytes of weights read per second (decode: weight bytes per token × tok/s).
    public let weightBandwidth: Double?
    /// This machine's read bandwidth with the same threads, over the same weights, reading with the
    /// decode kernels' software prefetches: the roofline.
    public let probeBandwidth: Double
    /// The same read as a plain STREAM-style loop (no software prefetch), for comparison.
    public let streamBandwidth: Double
    public var rooflineFraction: Double? { weightBandwidth.map { $0 / probeBandwidth } }
    public var streamFraction: Double? { weightBandwidth.map { $0 / streamBandwidth } }
    /// Prefill: the weight matrices' multiply-adds per second (the head once per run, as only the
    /// last token's logits are computed).
    public var multiplyAddRate: Double? = nil
    /// The int8 dot-product peak of the kernels' path on the same threads (`ComputePeak`); nil for
    /// the scalar and portable paths.
    public var computePeak: Double? = nil
    /// Prefill's fraction of `computePeak`.
    public var computeFraction: Double? {
        guard let multiplyAddRate, let computePeak, computePeak > 0 else { return nil }
        return multiplyAddRate / computePeak
    }
}

public enum Benchmark {
    /// One measured run of `test` after `depth` tokens of context (not timed), in tokens per
    /// second. The prompt and the context are random ids from `seed`, the same every run.
    public static func measureOnce(model: any LanguageModel, context: InferenceContext, memoryOptions: MemoryOptions = MemoryOptions(),
                                   test: BenchmarkTest, depth: Int = 0, seed: UInt64 = 1) throws -> Double {
        var random = SplitMix64(seed: seed)
        let ids = (0..<test.tokens).map { _ in Int.random(in: 0..<model.vocabularySize, using: &random) }
        let history = (0..<depth).map { _ in Int.random(in: 0..<model.vocabularySize, using: &random) }
        var logits = [Float](repeating: 0, count: model.vocabularySize)
        var token = [0]
        let memory = model.makeMemory(memoryOptions)
        if depth > 0 { _ = try model.forward(history, memory: memory, context: context, allLogits: false) }
        let start = Timing.now()
        try logits.withUnsafeMutableBufferPointer { out in
            switch test {
            case .prefill: try model.forward(ids, memory: memory, context: context, allLogits: false, into: out)
            case .decode:
                for id in ids {
                    token[0] = id
                    try model.forward(token, memory: memory, context: context, allLogits: false, into: out)
                }
            }
        }
        return Double(test.tokens) / Timing.seconds(since: start)
    }

    /// Every (depth, test) pair, `repetitions` times after one warm-up round, the pairs taking
    /// turns within each round (round 1 of all of them, then round 2, …): on a shared machine
    /// whose speed drifts, pairs measured in turns see the same drift, so their ratio means
    /// something even when their absolute speeds move.
    public static func run(model: any LanguageModel, context: InferenceContext, memoryOptions: MemoryOptions = MemoryOptions(),
                           tests: [BenchmarkTest], repetitions: Int, depths: [Int] = [0]) throws -> [BenchmarkResult] {
        let pool = context.pool
        // The machine's bandwidth moves with its other tenants: probe before and after the tests and
        // keep the better figure, so a probe that happened to run in a slow moment cannot flatter
        // the roofline fraction.
        let regions = model.weightRegions
        let before = MemoryBandwidth.measure(regions: regions, pool: pool)
        let streamBefore = MemoryBandwidth.measure(regions: regions, pool: pool, prefetching: false)
        let pairs = depths.flatMap { depth in tests.map { (depth: depth, test: $0) } }
        var samples = [[Double]](repeating: [], count: pairs.count)
        for round in 0...repetitions {
            for (i, pair) in pairs.enumerated() {
                let rate = try measureOnce(model: model, context: context, memoryOptions: memoryOptions, test: pair.test, depth: pair.depth)
                if round > 0 { samples[i].append(rate) }
            }
        }
        let peak = ComputePeak.measure(isa: model.kernels.isa, pool: pool)
        let probe = max(before, MemoryBandwidth.measure(regions: regions, pool: pool))
        let stream = max(streamBefore, MemoryBandwidth.measure(regions: regions, pool: pool, prefetching: false))
        return zip(pairs, samples).map { pair, samples in
            let mean = samples.reduce(0, +) / Double(samples.count)
            let sd = samples.count > 1 ? (samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples.count - 1)).squareRoot() : 0
            var bandwidth: Double?
            var multiplyAdds: Double?
            switch pair.test {
            case .decode: bandwidth = Double(model.weightBytesPerToken) * mean
            case let .prefill(tokens):
                let (layers, head) = model.multiplyAddsPerToken
                multiplyAdds = (Double(layers) + Double(head) / Double(tokens)) * mean
            }
            return BenchmarkResult(test: pair.test, depth: pair.depth, threads: pool.threads, tokensPerSecond: mean, standardDeviation: sd,
                                   median: samples.sorted()[samples.count / 2] / 2 + samples.sorted()[(samples.count - 1) / 2] / 2,
                                   weightBandwidth: bandwidth, probeBandwidth: probe, streamBandwidth: stream,
                                   multiplyAddRate: multiplyAdds, computePeak: peak)
        }
    }

    /// Peak resident set size of this process (VmHWM), in bytes.
    public static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Int(usage.ru_maxrss) * 1024
        }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }
}
