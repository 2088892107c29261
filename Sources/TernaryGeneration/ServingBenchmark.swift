import Foundation  // DispatchSemaphore
import TernaryKernels
import TernaryModels

/// One `--parallel` level of the serving benchmark.
public struct ServingResult: Sendable {
    public let parallel: Int
    public let threads: Int
    /// Requests measured (rounds × parallel).
    public let requests: Int
    /// Tokens per second summed over the sequences decoding together, one figure per round.
    public let aggregateDecode: [Double]
    /// Seconds from submitting to the first token, one per request.
    public let timeToFirstToken: [Double]

    public var medianAggregateDecode: Double { Self.percentile(aggregateDecode, 0.5) }
    public var ttftP50: Double { Self.percentile(timeToFirstToken, 0.5) }
    public var ttftP99: Double { Self.percentile(timeToFirstToken, 0.99) }

    /// Nearest-rank percentile (with few samples p99 is the largest).
    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

/// What continuous batching buys: at each level of `levels`, that many requests arrive together on
/// one `BatchScheduler` (as many slots as the largest level), each with its own `promptTokens`-token
/// prompt (distinct, so nothing comes from the prompt cache), and each generates exactly `generate`
/// tokens (end of text ignored). A round runs every level in turn, so a shared machine's drift falls
/// on all levels alike and their ratios compare the same minutes. Per level and round: the sum over
/// its requests of tokens / decode seconds (all prompts are prefilled in one step, so they decode in
/// the same steps), and every request's time to first token: that one prefill step over all the
/// prompts, the latency a burst of `parallel` users sees.
public enum ServingBenchmark {
    public static func run(model: any LanguageModel, levels: [Int], promptTokens: Int, generate: Int, rounds: Int,
                           threads: Int, kvPrecision: KVPrecision, prefillChunk: Int, seed: UInt64 = 1) throws -> [ServingResult] {
        let most = levels.max() ?? 1
        // All the prompts go in one prefill step, so the sequences then decode in the same steps
        // from first to last and each one's decode time measures the batch. A level below the
        // largest leaves slots free: a step covers only the active sequences.
        let scheduler = try BatchScheduler(model: model, slots: most, contextSize: promptTokens + generate + 1, threads: threads,
                                           kvPrecision: kvPrecision, prefillChunk: max(prefillChunk, most * promptTokens), maxQueue: 0)
        defer { scheduler.shutdown() }
        var random = SplitMix64(seed: seed)
        var options = SamplingOptions()
        options.temperature = 0
        options.repetitionPenalty = 1
        func request(_ tokens: Int) -> GenerationRequest {
            let prompt = (0..<promptTokens).map { _ in Int.random(in: 0..<model.vocabularySize, using: &random) }
            return GenerationRequest(prompt: prompt, maxTokens: tokens, options: options, ignoreEndOfText: true)
        }
        _ = try complete([request(min(generate, 4))], on: scheduler)  // warm-up: pages in the weights
        var aggregate = [[Double]](repeating: [], count: levels.count), firstToken = [[Double]](repeating: [], count: levels.count)
        for _ in 0..<rounds {
            for (i, parallel) in levels.enumerated() {
                let summaries = try complete((0..<parallel).map { _ in request(generate) }, on: scheduler)
                // The first token comes from the prefill step; the rest are decode steps.
                aggregate[i].append(summaries.reduce(0) { $0 + Double(max($1.tokens.count - 1, 0)) / max($1.decodeSeconds, 1e-9) })
                firstToken[i] += summaries.map { $0.queueSeconds + $0.prefillSeconds }
            }
        }
        return levels.enumerated().map { i, parallel in
            ServingResult(parallel: parallel, threads: threads, requests: rounds * parallel, aggregateDecode: aggregate[i],
                          timeToFirstToken: firstToken[i])
        }
    }

    /// Submits `requests` together and waits for every summary.
    private static func complete(_ requests: [GenerationRequest], on scheduler: BatchScheduler) throws -> [CompletionSummary] {
        let handles = try requests.map { try scheduler.submit($0) }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                var summaries: [CompletionSummary] = []
                for handle in handles {
                    for try await event in handle.events {
                        if case let .done(summary) = event { summaries.append(summary) }
                    }
                }
                outcome.result = .success(summaries)
            } catch {
                outcome.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        return try outcome.result!.get()
    }

    private final class Outcome: @unchecked Sendable {
        var result: Result<[CompletionSummary], Error>?
    }
}
