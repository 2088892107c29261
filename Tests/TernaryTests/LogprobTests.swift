import Foundation
import Testing
@testable import TernaryGeneration
import TernaryKernels
import TernaryModels
import TernaryTokenizer

/// Token log-probabilities: the model's own distribution, each entry handed out with its token's
/// text, the same whether a request ran alone or batched.
@Suite("Token log-probabilities")
struct LogprobTests {
    static var model: any LanguageModel { BatchSchedulerTests.model }
    static var tokenizer: any Tokenizer { model.tokenizer! }

    /// Logits that make greedy sampling pick `id`.
    static func choosing(_ id: Int) -> [Float] {
        var logits = [Float](repeating: 0, count: tokenizer.vocabularySize)
        logits[id] = 20
        return logits
    }

    static func logSoftmax(_ logits: [Float], _ id: Int) -> Double {
        let best = Double(logits.max()!)
        return Double(logits[id]) - best - log(logits.reduce(0.0) { $0 + exp(Double($1) - best) })
    }

    @Test("an entry is the log-softmax of the raw logits, whatever the sampler did, with the best alternatives in order")
    func values() throws {
        var random = SplitMix64(seed: 42)
        let logits = (0..<Self.tokenizer.vocabularySize).map { _ in Float(Double(random.next() % 10_000) / 1000 - 5) }
        var options = SamplingOptions()
        options.temperature = 1.7
        options.repetitionPenalty = 1.3
        options.presencePenalty = 1.5
        options.seed = 9
        var completion = Completion(tokenizer: Self.tokenizer, prompt: [1, 2, 3], maxTokens: 4, capacityLeft: 100, options: options,
                                    logprobs: 5)
        _ = try completion.next(logits: logits)
        let entry = try #require(completion.takeLogprobs().first)
        #expect(entry.token == completion.generated[0])
        #expect(abs(Double(entry.logprob) - Self.logSoftmax(logits, entry.token)) < 1e-5)
        let ranked: [Int] = logits.indices.sorted { (a: Int, b: Int) -> Bool in logits[a] > logits[b] || (logits[a] == logits[b] && a < b) }
        #expect(entry.top.map(\.token) == Array(ranked.prefix(5)))
        for alternative in entry.top { #expect(abs(Double(alternative.logprob) - Self.logSoftmax(logits, alternative.token)) < 1e-5) }
        // Not asked for: nothing.
        var plain = Completion(tokenizer: Self.tokenizer, prompt: [1], maxTokens: 4, capacityLeft: 100, options: .greedy)
        _ = try plain.next(logits: logits)
        #expect(plain.takeLogprobs().isEmpty)
        // top 0: the chosen token only.
        var bare = Completion(tokenizer: Self.tokenizer, prompt: [1], maxTokens: 4, capacityLeft: 100, options: .greedy, logprobs: 0)
        _ = try bare.next(logits: logits)
        let only = try #require(bare.takeLogprobs().first)
        #expect(only.top.isEmpty && only.token == ranked[0])
    }

    /// Feeds `text`'s tokens through a greedy completion; returns, after each step, the text handed
    /// out so far and the bytes of the tokens whose entries were handed out so far.
    static func drive(_ text: String, stop: [String]) throws -> (ids: [Int], steps: [(text: [UInt8], entries: [UInt8])], entries: [TokenLogprob]) {
        let ids = tokenizer.encode(text, addSpecialTokens: false, parseSpecial: false)
        var completion = Completion(tokenizer: tokenizer, prompt: [ids[0]], maxTokens: ids.count, capacityLeft: 1000, options: .greedy,
                                    stopStrings: stop, logprobs: 1)
        var steps: [(text: [UInt8], entries: [UInt8])] = [], entries: [TokenLogprob] = [], shown = ""
        for id in ids where !completion.isFinished {
            shown += try completion.next(logits: choosing(id)).text
            entries += completion.takeLogprobs()
            steps.append((Array(shown.utf8), try entries.flatMap { try tokenizer.bytes(of: $0.token) }))
        }
        return (ids, steps, entries)
    }

    @Test("each entry comes out with the last of its token's text, never before")
    func alignment() throws {
        // "Xq" is a stop string, so every " X" is held back until the next token shows it is not one.
        let (ids, steps, entries) = try Self.drive("But soft, X marks the spot; X and X again.", stop: ["Xq"])
        for step in steps {
            #expect(step.text.starts(with: step.entries), "an entry came out before its text")
        }
        #expect(steps.last!.text == steps.last!.entries)
        #expect(entries.map(\.token) == ids)
        // Some step held text back and its entry with it.
        #expect(steps.contains { $0.text.count > $0.entries.count })
    }

    @Test("at a stop string, the tokens whose text starts before it are listed and the rest are not")
    func stopString() throws {
        let (ids, steps, entries) = try Self.drive("Speak, friend, and enter the gate.", stop: ["friend"])
        let visible = steps.last!.text
        #expect(String(decoding: visible, as: UTF8.self) == "Speak, ")
        // The token that holds the stop string's start is the last one listed.
        var end = 0, expected: [Int] = []
        for id in ids {
            expected.append(id)
            end += try Self.tokenizer.bytes(of: id).count
            if end > visible.count { break }
        }
        #expect(entries.map(\.token) == expected)
    }

    @Test("a request's log-probabilities are the same alone and batched with others")
    func batched() async throws {
        func request(_ prompt: String, seed: UInt64) -> GenerationRequest {
            var r = BatchSchedulerTests.request(prompt, seed: seed, n: 12)
            r.logprobs = 3
            return r
        }
        func entries(_ handle: GenerationHandle) async throws -> (entries: [TokenLogprob], tokens: [Int]) {
            var all: [TokenLogprob] = []
            for try await event in handle.events {
                switch event {
                case .prompt: Issue.record("prompt log-probabilities that were not asked for")
                case let .text(_, logprobs): all += logprobs
                case let .done(summary): return (all, summary.tokens)
                }
            }
            throw CancellationError()
        }
        let alone = try BatchScheduler(model: Self.model, slots: 1, contextSize: 128, threads: 1)
        let (expected, tokens) = try await entries(try alone.submit(request("ROMEO:", seed: 5)))
        #expect(expected.map(\.token) == tokens && expected.count == 12)
        #expect(expected.allSatisfy { $0.top.count == 3 && $0.logprob <= 0 && $0.top[0].logprob >= $0.logprob })
        let shared = try BatchScheduler(model: Self.model, slots: 2, contextSize: 128, threads: 2, prefillChunk: 4)
        let other = try shared.submit(request("JULIET:\nO Romeo, Romeo", seed: 6))
        let mine = try shared.submit(request("ROMEO:", seed: 5))
        #expect(try await entries(mine).entries == expected)
        _ = try await entries(other)
        #expect(throws: GenerationError.self) {
            var bad = request("ROMEO:", seed: 1)
            bad.logprobs = 21
            _ = try shared.submit(bad)
        }
    }

    @Test("a prompt's own log-probabilities are its tokens' log-softmax given the ones before, computed whole even when a slot holds it")
    func promptLogprobs() async throws {
        let prompt = Self.tokenizer.encode("ROMEO:\nBut soft, what light through yonder window breaks?")
        let vocabulary = Self.model.vocabularySize
        let logits = try Self.model.forward(prompt, memory: Self.model.makeMemory(MemoryOptions(capacity: 128)),
                                            context: InferenceContext(threads: 1), allLogits: true)
        // Eight-token prefill chunks: the rows come from several forward passes.
        let scheduler = try BatchScheduler(model: Self.model, slots: 1, contextSize: 128, threads: 2, prefillChunk: 8)
        var first = GenerationRequest(prompt: prompt, maxTokens: 3, options: .greedy)
        _ = try await BatchSchedulerTests.collect(try scheduler.submit(first))  // the slot now holds the prompt
        first.maxTokens = 0
        first.promptLogprobs = 2
        var entries: [TokenLogprob] = [], summary: CompletionSummary?
        let handle = try scheduler.submit(first)  // held: a released handle cancels its request
        for try await event in handle.events {
            switch event {
            case let .prompt(logprobs): entries = logprobs
            case let .text(piece, _): Issue.record("max_tokens 0 produced text '\(piece)'")
            case let .done(s): summary = s
            }
        }
        #expect(summary?.cachedTokens == 0 && summary?.tokens == [] && summary?.stopReason == .length)
        #expect(entries.map(\.token) == Array(prompt.dropFirst()))
        for (i, entry) in entries.enumerated() {
            let row = Array(logits[(i * vocabulary)..<((i + 1) * vocabulary)])
            #expect(entry == TokenLogprob(logits: row, token: prompt[i + 1], top: 2))
        }
        // Without prompt log-probabilities, max_tokens 0 returns at once, with nothing generated.
        first.promptLogprobs = nil
        let (text, nothing) = try await BatchSchedulerTests.collect(try scheduler.submit(first))
        #expect(text.isEmpty && nothing.tokens.isEmpty && scheduler.metrics.active == 0)
    }

    @Test("prompts scored at once share a step's rows of logits, each entry still its own prompt's")
    func promptsScoredTogether() async throws {
        // Chunks of 8: the 5-token prompt's rows and the first 3 of the next share one step, so
        // the second's rows start past the first's in the scheduler's one buffer.
        let texts = ["ROMEO: O", "JULIET:\nO Romeo, Romeo! wherefore art thou", "KING", "First Citizen:\nBefore we proceed"]
        let prompts = texts.map { Self.tokenizer.encode($0) }
        #expect(prompts[0].count < 8 && prompts[1].count > 8)
        let vocabulary = Self.model.vocabularySize
        let scheduler = try BatchScheduler(model: Self.model, slots: 3, contextSize: 64, threads: 2, prefillChunk: 8)
        let handles = try prompts.map { prompt in
            var request = GenerationRequest(prompt: prompt, maxTokens: 2, options: .greedy)
            request.promptLogprobs = 1
            return try scheduler.submit(request)
        }
        for (prompt, handle) in zip(prompts, handles) {
            var entries: [TokenLogprob]?
            for try await event in handle.events { if case let .prompt(logprobs) = event { entries = logprobs } }
            let logits = try Self.model.forward(prompt, memory: Self.model.makeMemory(MemoryOptions(capacity: 64)),
                                                context: InferenceContext(threads: 1), allLogits: true)
            let expected = (0..<(prompt.count - 1)).map { i in
                TokenLogprob(logits: Array(logits[(i * vocabulary)..<((i + 1) * vocabulary)]), token: prompt[i + 1], top: 1)
            }
            #expect(entries == expected)
        }
    }
}
