/// Turns a stream of token ids into text pieces, holding back a multi-byte UTF-8 character split
/// across tokens until it is complete, so each character is printed once and whole (byte-fallback
/// tokens carry one byte each). Special tokens print nothing. For SentencePiece vocabularies the
/// space that encoding puts before a text is dropped when the sequence starts here (after BOS,
/// as llama2.c's run.c does), and kept after other tokens.
public struct StreamingDecoder {
    private let tokenizer: any Tokenizer
    private var pending: [UInt8] = []
    private var previous: Int?
    /// Bytes taken in so far (after the dropped leading space): where each token's text ends in
    /// the decoded stream, as long as that stream is valid UTF-8.
    public private(set) var bytesIn = 0

    /// `previous`: the last token before the stream (the prompt's), nil at a sequence's start.
    public init(tokenizer: any Tokenizer, after previous: Int? = nil) {
        self.tokenizer = tokenizer
        self.previous = previous
    }

    /// The text that became complete with this token (possibly empty).
    public mutating func append(_ id: Int) throws -> String {
        defer { previous = id }
        if tokenizer.isSpecial(id) { return "" }
        var bytes = try tokenizer.bytes(of: id)
        if tokenizer.stripsLeadingSpace, previous == nil || previous == tokenizer.bos, bytes.first == 0x20 { bytes.removeFirst() }
        pending += bytes
        bytesIn += bytes.count
        let complete = Self.completePrefixLength(pending)
        let text = String(decoding: pending[0..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is still held back (an incomplete character is emitted as U+FFFD).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside an incomplete UTF-8 sequence.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var start = n - 1
        // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
        while start >= 0, n - start <= 4, bytes[start] & 0xC0 == 0x80 { start -= 1 }
        guard start >= 0 else { return n }
        let lead = bytes[start]
        let needed: Int
        if lead < 0x80 { needed = 1 } else if lead & 0xE0 == 0xC0 { needed = 2 } else if lead & 0xF0 == 0xE0 { needed = 3 } else if lead & 0xF8 == 0xF0 { needed = 4 } else { return n }
        return n - start < needed ? start : n
    }
}
