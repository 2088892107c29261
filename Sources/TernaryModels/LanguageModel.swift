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

    /// Feeds `tokens` after what `memory` holds (a prompt is one call: a batched prefill).
    /// Returns logits `(tokens.count, vocab)` if `allLogits`, else those of the last token `(vocab)`.
    func forward(_ tokens: [Int], memory: SequenceMemory, allLogits: Bool) throws -> [Float]
}
