import TernaryFormat
import TernaryKernels
import TernaryTokenizer

/// Which logits a forward step returns.
public enum LogitRequest: Sendable, Equatable {
    case none
    /// The last token's (vocabulary) logits.
    case last
    /// Every token's (tokens, vocabulary) logits.
    case all
}

/// One sequence's part of a forward pass: its new tokens, its memory and where its logits go.
public struct ForwardStep {
    public var tokens: [Int]
    public var memory: any SequenceMemory
    public var logits: LogitRequest
    /// Room for (1 or tokens.count, vocabulary) floats, as `logits` asks; nil for `.none`.
    public var output: UnsafeMutablePointer<Float>?

    public init(tokens: [Int], memory: any SequenceMemory, logits: LogitRequest = .last, output: UnsafeMutablePointer<Float>?) {
        self.tokens = tokens
        self.memory = memory
        self.logits = logits
        self.output = output
    }
}

/// A loaded model: immutable weights mapped from a packed file, shared freely between threads.
/// What changes while it runs lives elsewhere: each sequence's `SequenceMemory` (made by
/// `makeMemory`) and each thread's `InferenceContext` (threads and scratch memory).
public protocol LanguageModel: AnyObject, Sendable {
    var architecture: String { get }
    var vocabularySize: Int { get }
    var contextLength: Int { get }
    var tokenizer: (any Tokenizer)? { get }
    /// The packed file the weights are mapped from.
    var file: PackedModelFile { get }
    /// The kernel paths chosen when the model was loaded.
    var kernels: TernaryKernels { get }
    /// Bytes of weights read to produce one token (for bandwidth figures).
    var weightBytesPerToken: Int { get }
    /// Multiply-adds of the weight matrices for one token: the layers' (every token) and the
    /// head's (only tokens whose logits are asked for). For compute figures.
    var multiplyAddsPerToken: (layers: Int, head: Int) { get }
    /// The weight matrices read for every token, in the order a forward pass reads them (the
    /// bandwidth probe reads exactly these).
    var weightRegions: [UnsafeRawBufferPointer] { get }

    /// The memory of a new, empty sequence.
    func makeMemory(_ options: MemoryOptions) -> SequenceMemory

    /// Feeds each step's tokens after what its memory holds, all sequences in one pass (each weight
    /// matrix is read once for all of them; a long step runs in micro-batches of the context's
    /// size), and writes the logits each step asks for. The memories must come from this model's
    /// `makeMemory` and be distinct. Checks every step before changing any memory: an error leaves
    /// them all as they were. Once warmed up a call allocates nothing, so a decode loop that reuses
    /// its buffers allocates nothing per token.
    func forward(_ steps: UnsafeMutableBufferPointer<ForwardStep>, context: InferenceContext) throws
}

extension LanguageModel {
    public func makeMemory() -> SequenceMemory { makeMemory(MemoryOptions()) }

    /// One sequence: writes logits `(tokens.count, vocab)` if `allLogits`, else those of the last
    /// token `(vocab)`, into `logits`, which must hold at least that many.
    public func forward(_ tokens: [Int], memory: SequenceMemory, context: InferenceContext, allLogits: Bool,
                        into logits: UnsafeMutableBufferPointer<Float>) throws {
        guard !tokens.isEmpty else { return }
        precondition(logits.count >= (allLogits ? tokens.count : 1) * vocabularySize, "the logits buffer is too small")
        try withUnsafeTemporaryAllocation(of: ForwardStep.self, capacity: 1) { steps in
            _ = steps.initialize(from: CollectionOfOne(
                ForwardStep(tokens: tokens, memory: memory, logits: allLogits ? .all : .last, output: logits.baseAddress)))
            defer { _ = steps.deinitialize() }
            try forward(steps, context: context)
        }
    }

    /// As `forward(_:memory:context:allLogits:into:)`, returning a new array (empty for no tokens).
    public func forward(_ tokens: [Int], memory: SequenceMemory, context: InferenceContext, allLogits: Bool) throws -> [Float] {
        guard !tokens.isEmpty else { return [] }
        var logits = [Float](repeating: 0, count: (allLogits ? tokens.count : 1) * vocabularySize)
        try logits.withUnsafeMutableBufferPointer { try forward(tokens, memory: memory, context: context, allLogits: allLogits, into: $0) }
        return logits
    }

    /// Several sequences in one pass (see the protocol requirement).
    public func forward(_ steps: [ForwardStep], context: InferenceContext) throws {
        var steps = steps
        try steps.withUnsafeMutableBufferPointer { try forward($0, context: context) }
    }
}
