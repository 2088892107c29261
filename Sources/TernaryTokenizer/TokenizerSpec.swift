import TernaryFormat

/// Everything a `TextTokenizer` is built from, in one value: what every source (a Hugging Face
/// tokenizer.json, GPT-2's vocab.json + merges.txt, GGUF `tokenizer.ggml.*` metadata, llama2.c's
/// tokenizer.bin) is converted into, and what a packed file stores (docs/FORMAT.md, "Tokenizer").
public struct TokenizerSpec: Sendable {
    /// Each token as the vocabulary writes it, by id.
    public var pieces: [String]
    public var kinds: [TokenKind]
    /// Merges in rank order: (left, right, merged) ids.
    public var merges: [(Int32, Int32, Int32)]
    /// Priority of each merge (lower first); nil: the rank. SentencePiece merges by the merged
    /// piece's score, so its priorities are minus the scores and ties go to the leftmost pair.
    public var priorities: [Float]?
    public var symbols: TextTokenizer.Symbols
    public var ignoreMerges = false
    var normalizer: Normalizer?
    var preTokenizer: PreTokenizer?
    public var decoding: TextTokenizer.Decoding
    public var stripsLeadingSpace = false
    public var added: [TextTokenizer.AddedToken] = []
    /// Tokens put before / after a sequence when special tokens are added (BOS, EOS).
    public var prefix: [Int] = []
    public var suffix: [Int] = []
    public var bos: Int?
    public var eos: Int?
    public var stopTokens: Set<Int> = []
    public var chatTemplate: String?
    /// Piece → id, when a loader already built it (saves building it twice).
    var pieceIndex: PieceIndex?

    public func build(source: String) throws -> TextTokenizer {
        var table = [UInt64: BytePairEncoder.Merge](minimumCapacity: merges.count)
        for (rank, (l, r, m)) in merges.enumerated() {
            for id in [l, r, m] where id < 0 || Int(id) >= pieces.count {
                throw TokenizerError.malformedMerges(source: source, line: rank + 1, reason: "token id \(id) is outside the vocabulary of \(pieces.count)")
            }
            let key = BytePairEncoder.key(l, r)
            if table[key] == nil { table[key] = .init(priority: priorities?[rank] ?? Float(rank), id: m) }
        }
        return try TextTokenizer(
            pieces: pieces, kinds: kinds, merges: table,  symbols: symbols, ignoreMerges: ignoreMerges, normalizer: normalizer,
            preTokenizer: preTokenizer, decoding: decoding, stripsLeadingSpace: stripsLeadingSpace, added: added, prefix: prefix,
            suffix: suffix, bos: bos, eos: eos, stopTokens: stopTokens, chatTemplate: chatTemplate, index: pieceIndex, source: source)
    }

    /// The id of each piece (the first, if a piece appears twice), by exact bytes.
    static func index(_ pieces: [String]) -> PieceIndex { PieceIndex(pieces) }

    /// Merges [left, right] by piece → id triples; `source` names the file.
    static func merges(_ pairs: [(String, String)], index: PieceIndex, source: String) throws -> [(Int32, Int32, Int32)] {
        var out: [(Int32, Int32, Int32)] = []
        out.reserveCapacity(pairs.count)
        for (n, (left, right)) in pairs.enumerated() {
            guard let l = index.id(left), let r = index.id(right), let m = index.id(joining: l, r) else {
                throw TokenizerError.malformedMerges(source: source, line: n + 1, reason: "'\(left) \(right)' is not two vocabulary tokens whose join is a token")
            }
            out.append((l, r, m))
        }
        return out
    }

    /// Merge lines "left right" (one space between two pieces) → id triples, read as bytes.
    static func merges(lines: [String], index: PieceIndex, source: String) throws -> [(Int32, Int32, Int32)] {
        var out: [(Int32, Int32, Int32)] = []
        out.reserveCapacity(lines.count)
        for (n, line) in lines.enumerated() {
            var line = line
            out.append(try line.withUTF8 { try merge(UnsafeRawBufferPointer($0), line: n + 1, index: index, source: source) })
        }
        return out
    }

    /// As `merges(lines:)`, for lines given as bytes (`line(i)` must stay valid during the call).
    static func merges(count: Int, line: (Int) -> UnsafeRawBufferPointer, index: PieceIndex, source: String) throws -> [(Int32, Int32, Int32)] {
        var out: [(Int32, Int32, Int32)] = []
        out.reserveCapacity(count)
        for n in 0..<count { out.append(try merge(line(n), line: n + 1, index: index, source: source)) }
        return out
    }

    /// One merge line's (left, right, merged) ids.
    static func merge(_ bytes: UnsafeRawBufferPointer, line: Int, index: PieceIndex, source: String) throws -> (Int32, Int32, Int32) {
        guard let space = bytes.firstIndex(of: 0x20), bytes[(space + 1)...].firstIndex(of: 0x20) == nil,
              let l = index.id(UnsafeRawBufferPointer(rebasing: bytes[..<space])),
              let r = index.id(UnsafeRawBufferPointer(rebasing: bytes[(space + 1)...])),
              let m = index.id(joining: l, r) else {
            throw TokenizerError.malformedMerges(source: source, line: line,
                reason: "'\(String(decoding: bytes, as: UTF8.self))' is not two vocabulary tokens separated by one space whose join is a token")
        }
        return (l, r, m)
    }

    /// SentencePiece merges: every split of a piece into two pieces, by the piece's score
    /// (llama.cpp's and run.c's rule: the pair whose join has the best score merges first).
    static func scoreMerges(pieces: [String], scores: [Float], kinds: [TokenKind]) -> (merges: [(Int32, Int32, Int32)], priorities: [Float]) {
        let index = Self.index(pieces)
        var merges: [(Int32, Int32, Int32)] = [], priorities: [Float] = []
        for (id, piece) in pieces.enumerated() where kinds[id] == .normal || kinds[id] == .userDefined {
            let scalars = Array(piece.unicodeScalars)
            guard scalars.count > 1 else { continue }
            for cut in 1..<scalars.count {
                let left = String(String.UnicodeScalarView(scalars[..<cut])), right = String(String.UnicodeScalarView(scalars[cut...]))
                if let l = index.id(left), let r = index.id(right) {
                    merges.append((l, r, Int32(id)))
                    priorities.append(-scores[id])
                }
            }
        }
        return (merges, priorities)
    }
}
