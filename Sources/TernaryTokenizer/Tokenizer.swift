/// Turns text into token ids and back: what a model's vocabulary needs. Implementations are
/// immutable after loading and safe to share between threads.
public protocol Tokenizer: AnyObject, Sendable {
    var vocabularySize: Int { get }
    /// Beginning-of-sequence token, if the vocabulary has one.
    var bos: Int? { get }
    /// End-of-sequence token, if the vocabulary has one.
    var eos: Int? { get }
    /// Tokens that end a generation: EOS and end-of-turn tokens such as `<|eot_id|>`.
    var stopTokens: Set<Int> { get }
    /// The model's chat template (Jinja source, as Hugging Face stores it), if it has one.
    var chatTemplate: String? { get }

    /// Token ids of `text`. `addSpecialTokens` adds what the tokenizer adds around a sequence (BOS,
    /// EOS); `parseSpecial` turns special-token text in the input (`<|eot_id|>`) into those tokens,
    /// otherwise it is ordinary text (llama.cpp's parse_special).
    func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int]
    /// The bytes token `id` stands for (a multi-byte character may be split across tokens).
    func bytes(of id: Int) throws -> [UInt8]
    /// The token as its vocabulary stores it (`Ġworld`, `▁world`, `<0x0A>`).
    func piece(_ id: Int) -> String?
    /// Whether `id` is a control or special token (BOS, EOS, `<|eot_id|>`, …).
    func isSpecial(_ id: Int) -> Bool
    /// Whether decoding drops the one space that encoding put before the text (SentencePiece).
    var stripsLeadingSpace: Bool { get }
}

extension Tokenizer {
    /// Text of `ids` (invalid UTF-8 becomes U+FFFD); `skipSpecial` leaves special tokens out.
    public func decode(_ ids: [Int], skipSpecial: Bool = false) throws -> String {
        var out: [UInt8] = []
        for id in ids where !(skipSpecial && isSpecial(id)) { out += try bytes(of: id) }
        if stripsLeadingSpace, out.first == 0x20 { out.removeFirst() }
        return String(decoding: out, as: UTF8.self)
    }

    /// `encode` as the engine's commands use it for a prompt: BOS added if the tokenizer adds one,
    /// special-token text parsed.
    public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true, parseSpecial: true) }
}

/// The kind of each token (GGUF's token types).
public enum TokenKind: Int, Sendable {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}
