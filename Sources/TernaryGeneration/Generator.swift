#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TernaryKernels
import TernaryModels
import TernaryTokenizer

/// Timing and counts of one generation.
public struct GenerationStats: Sendable {
    public var promptTokens = 0
    public var generatedTokens = 0
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    public var stopReason = "length"

    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0 }

    public var summary: String {
        "prompt: \(promptTokens) tokens, \(prefillTokensPerSecond.fixed(1)) tok/s | "
            + "generated: \(generatedTokens) tokens, \(decodeTokensPerSecond.fixed(1)) tok/s | stop: \(stopReason)"
    }
}

/// Runs a model on a prompt and streams text: prefill in one batch, then one token at a time.
public final class Generator {
    public let model: any LanguageModel
    /// Where the forward passes run (threads and scratch).
    public let context: InferenceContext
    /// How new sequences' memories are made (KV cache precision, capacity).
    public let memoryOptions: MemoryOptions
    public let tokenizer: any Tokenizer

    public init(model: any LanguageModel, context: InferenceContext, memoryOptions: MemoryOptions = MemoryOptions()) throws {
        guard let tokenizer = model.tokenizer else {
            throw ModelError.noTokenizer(path: model.file.path)
        }
        self.model = model
        self.context = context
        self.memoryOptions = memoryOptions
        self.tokenizer = tokenizer
    }

    /// The memory of a new sequence.
    public func makeMemory() -> SequenceMemory { model.makeMemory(memoryOptions) }

    /// Generates up to `maxTokens` after `promptIDs`, continuing `memory` (multi-turn chat keeps it).
    /// `onText` receives complete UTF-8 text as it is produced; returning false stops generation.
    @discardableResult
    public func generate(
        promptIDs: [Int], maxTokens: Int, options: SamplingOptions, stopStrings: [String] = [],
        format: OutputFormat = .text, memory: SequenceMemory? = nil, onText: (String) -> Bool
    ) throws -> (ids: [Int], stats: GenerationStats) {
        try options.validate()
        guard !promptIDs.isEmpty else { throw GenerationError.emptyPrompt }
        guard maxTokens >= 0 else { throw GenerationError.badOption(option: "-n", value: "\(maxTokens)", expected: "an integer >= 0") }
        let memory = memory ?? makeMemory()
        let capacityLeft = memory.capacity - memory.length - promptIDs.count
        guard capacityLeft >= 0 else { throw ModelError.contextFull(needed: memory.length + promptIDs.count, contextLength: memory.capacity) }
        var completion = Completion(tokenizer: tokenizer, prompt: promptIDs, maxTokens: maxTokens, capacityLeft: capacityLeft,
                                    options: options, stopStrings: stopStrings, format: format)
        var stats = GenerationStats()
        stats.promptTokens = promptIDs.count

        let prefillStart = Timing.now()
        // One logits buffer and one single-token array for the whole loop: the forward passes
        // then allocate nothing per token.
        var logits = [Float](repeating: 0, count: model.vocabularySize)
        var token = [0]
        try logits.withUnsafeMutableBufferPointer { try model.forward(promptIDs, memory: memory, context: context, allLogits: false, into: $0) }
        stats.prefillSeconds = Timing.seconds(since: prefillStart)
        let decodeStart = Timing.now()
        while !completion.isFinished {
            let (piece, feed) = try completion.next(logits: logits)
            if !piece.isEmpty, !onText(piece) {
                _ = completion.interrupt()  // the caller wants no more text
                break
            }
            guard let feed else { break }
            token[0] = feed
            try logits.withUnsafeMutableBufferPointer { try model.forward(token, memory: memory, context: context, allLogits: false, into: $0) }
        }
        stats.stopReason = completion.stopReason?.rawValue ?? StopReason.length.rawValue
        stats.generatedTokens = completion.generated.count
        stats.decodeSeconds = Timing.seconds(since: decodeStart)
        return (completion.generated, stats)
    }
}
