import Foundation
import Testing
@testable import TernaryGeneration
import TernaryKernels
import TernaryModels

/// Continuous batching gives each request exactly what it would get alone.
@Suite("Batch scheduler")
struct BatchSchedulerTests {
    static let model: any LanguageModel = try! ModelRegistry.load(
        path: TestPaths.root.appendingPathComponent("models/shakespeare-ternary.safetensors").path)

    static func collect(_ handle: GenerationHandle) async throws -> (text: String, summary: CompletionSummary) {
        var text = ""
        for try await event in handle.events {
            switch event {
            case .prompt: break
            case let .text(piece, _): text += piece
            case let .done(summary): return (text, summary)
            }
        }
        throw CancellationError()
    }

    static func request(_ prompt: String, seed: UInt64, n: Int = 24, stop: [String] = [], format: OutputFormat = .text) -> GenerationRequest {
        var options = SamplingOptions()
        options.seed = seed
        return GenerationRequest(prompt: model.tokenizer!.encode(prompt), maxTokens: n, options: options, stopStrings: stop, format: format)
    }

    /// What `Generator` produces for the same request, one sequence at a time.
    static func alone(_ request: GenerationRequest) throws -> String {
        let generator = try Generator(model: model, context: InferenceContext(threads: 1), memoryOptions: MemoryOptions(capacity: 256))
        var text = ""
        try generator.generate(promptIDs: request.prompt, maxTokens: request.maxTokens, options: request.options,
                               stopStrings: request.stopStrings, format: request.format) { text += $0; return true }
        return text
    }

    @Test("requests batched together produce, token for token, what each produces alone (JSON mode too)")
    func batchedEqualsAlone() async throws {
        let requests = [Self.request("ROMEO:", seed: 1), Self.request("JULIET:\nO Romeo", seed: 2, n: 40),
                        Self.request("First Citizen:\nBefore we proceed any further, hear me speak.", seed: 3),
                        Self.request("KING", seed: 4, n: 8), Self.request("ROMEO:", seed: 5, stop: ["\n"]),
                        Self.request("ROMEO:", seed: 6, n: 30, format: .jsonObject)]
        let expected = try requests.map(Self.alone)
        let scheduler = try BatchScheduler(model: Self.model, slots: 3, contextSize: 256, threads: 2, prefillChunk: 8)
        let streams = try requests.map { try scheduler.submit($0) }
        var got: [String] = []
        for stream in streams { got.append(try await Self.collect(stream).text) }
        #expect(got == expected)
        let metrics = scheduler.metrics
        #expect(metrics.requests == requests.count && metrics.active == 0 && metrics.queued == 0)
        // Six requests on three slots with 8-token prefill chunks: sequences must have shared steps.
        #expect(metrics.steps < requests.map(\.maxTokens).reduce(0, +))
    }

    @Test("a prompt that extends what a slot holds reuses it and gives the same text")
    func promptCache() async throws {
        let scheduler = try BatchScheduler(model: Self.model, slots: 1, contextSize: 256, threads: 1)
        let first = Self.request("ROMEO:\nWhat light", seed: 7)
        let (text, summary) = try await Self.collect(try scheduler.submit(first))
        #expect(summary.cachedTokens == 0)
        var second = Self.request("", seed: 8)
        second.prompt = first.prompt + summary.tokens + Self.model.tokenizer!.encode("\nJULIET:", addSpecialTokens: false, parseSpecial: false)
        let (again, cached) = try await Self.collect(try scheduler.submit(second))
        #expect(cached.cachedTokens == first.prompt.count + summary.tokens.count - 1 || cached.cachedTokens == first.prompt.count + summary.tokens.count)
        #expect(again == (try Self.alone(second)))
        #expect(!text.isEmpty)
    }

    @Test("a stream dropped by its consumer frees its slot; a full queue and a prompt past the context are errors")
    func cancellationAndLimits() async throws {
        let scheduler = try BatchScheduler(model: Self.model, slots: 1, contextSize: 64, threads: 1, maxQueue: 1)
        func settle() async throws {
            var waited = 0
            while scheduler.metrics.active + scheduler.metrics.queued > 0, waited < 5000 { try await Task.sleep(for: .milliseconds(1)); waited += 1 }
            #expect(scheduler.metrics.active == 0 && scheduler.metrics.queued == 0)
        }
        // A consumer that reads one piece and leaves (how fast it gets there depends on the load,
        // so only the freed slot is asserted here).
        do {
            let handle = try scheduler.submit(Self.request("ROMEO:", seed: 1, n: 60))
            for try await event in handle.events { if case .text = event { break } }
        }
        try await settle()
        // A handle released at once (its flag is set right after `submit` returns, whatever the
        // load): the request stops at the next step, long before its 60 tokens.
        let before = scheduler.metrics.generatedTokens
        _ = try scheduler.submit(Self.request("ROMEO:", seed: 6, n: 60))
        try await settle()
        #expect(scheduler.metrics.generatedTokens - before < 10, "a released handle's request went on generating")
        // And it does not hold the only slot: this one completes.
        let (_, summary) = try await Self.collect(try scheduler.submit(Self.request("JULIET:", seed: 2, n: 4)))
        #expect(summary.stopReason == .length && summary.tokens.count == 4)
        #expect(throws: SchedulerError.promptTooLong(tokens: 70, contextSize: 64)) {
            try scheduler.submit(GenerationRequest(prompt: Array(repeating: 1, count: 70), maxTokens: 1, options: SamplingOptions()))
        }
        let long = try scheduler.submit(Self.request("ROMEO:", seed: 3, n: 50))  // occupies the slot
        while scheduler.metrics.active == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let queued = try scheduler.submit(Self.request("ROMEO:", seed: 4, n: 1)) // the one queue place
        #expect(throws: SchedulerError.queueFull(limit: 1)) { try scheduler.submit(Self.request("x", seed: 5, n: 1)) }
        _ = try await Self.collect(long)
        _ = try await Self.collect(queued)
    }

    @Test("whatever a request asks within its limits, it ends with a summary that agrees with its events")
    func randomRequests() async throws {
        // Random lengths (0 included: once a crash), prompts, stop strings, log-probabilities of
        // the tokens and of the prompt, over slots that share steps and the prompt cache.
        let scheduler = try BatchScheduler(model: Self.model, slots: 3, contextSize: 48, threads: 2, prefillChunk: 5)
        var random = SplitMix64(seed: 2026)
        let texts = ["ROMEO:", "JULIET:\nO Romeo, Romeo", "First Citizen:\nBefore we proceed any further, hear me speak.", "KING"]
        var requests: [GenerationRequest] = []
        for i in 0..<24 {
            var options = SamplingOptions()
            options.seed = random.next()
            options.temperature = Float(random.next() % 3) * 0.5
            var request = GenerationRequest(prompt: Self.model.tokenizer!.encode(texts[i % texts.count]), maxTokens: Int(random.next() % 7),
                                            options: options, stopStrings: random.next() % 2 == 0 ? ["\n", "e"] : [])
            request.logprobs = random.next() % 2 == 0 ? Int(random.next() % 4) : nil
            request.promptLogprobs = random.next() % 3 == 0 ? Int(random.next() % 3) : nil
            requests.append(request)
        }
        let handles = try requests.map { try scheduler.submit($0) }
        for (request, handle) in zip(requests, handles) {
            var text = "", entries: [TokenLogprob] = [], promptEntries: [TokenLogprob]?, summary: CompletionSummary?
            for try await event in handle.events {
                switch event {
                case let .prompt(logprobs): promptEntries = logprobs
                case let .text(piece, logprobs):
                    text += piece
                    entries += logprobs
                case let .done(s): summary = s
                }
            }
            let done = try #require(summary)
            #expect(done.text == text && done.tokens.count <= request.maxTokens)
            #expect(done.stopReason != .interrupted)
            if request.logprobs == nil { #expect(entries.isEmpty) } else { #expect(entries.map(\.token) == Array(done.tokens.prefix(entries.count))) }
            if request.promptLogprobs == nil {
                #expect(promptEntries == nil)
            } else {
                #expect(promptEntries?.map(\.token) == Array(request.prompt.dropFirst()))
            }
        }
        #expect(scheduler.metrics.active == 0 && scheduler.metrics.queued == 0)
    }
}
