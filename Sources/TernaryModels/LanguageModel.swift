import TernaryFormat
import TernaryTokenizer

/// A loaded model that turns token ids into next-token logits.
public protocol LanguageModel: AnyObject {
    var architecture: String { get }
    var vocabularySize: Int { get }
    var contextLength: Int { get }
    var tokenizer: BPETokenizer? { get }
    /// The packed file the weights are mapped from.
    var file: PackedModelFile { get }
    /// Bytes of weights read to produce one token (for bandwidth figures).
    var weightBytesPerToken: Int { get }
    /// The weight matrices read for every token, in the order a forward pass reads them (the
    /// bandwidth probe reads exactly these).
    var weightRegions: [UnsafeRawBufferPointer] { get }

    func makeMemory() -> SequenceMemory

    /// Feeds `tokens` after what `memory` holds (a prompt is one call: a batched prefill) and
    /// writes logits `(tokens.count, vocab)` if `allLogits`, else those of the last token `(vocab)`,
    /// into `logits`, which must hold at least that many. Once warmed up a call allocates nothing,
    /// so a decode loop that reuses its buffers allocates nothing per token.
    func forward(_ tokens: [Int], memory: SequenceMemory, allLogits: Bool, into logits: UnsafeMutableBufferPointer<Float>) throws
}

extension LanguageModel {
    /// As `forward(_:memory:allLogits:into:)`, returning a new array (empty for no tokens).
    public func forward(_ tokens: [Int], memory: SequenceMemory, allLogits: Bool) throws -> [Float] {
        guard !tokens.isEmpty else { return [] }
        var logits = [Float](repeating: 0, count: (allLogits ? tokens.count : 1) * vocabularySize)
        try logits.withUnsafeMutableBufferPointer { try forward(tokens, memory: memory, allLogits: allLogits, into: $0) }
        return logits
    }
}
