import Foundation  // NSLock

/// A tokenizer assembled the way Hugging Face `tokenizers` assembles one: added tokens split off
/// first, then each text fragment is normalized, pre-tokenized into words, and each word encoded
/// by byte-pair merges; BOS/EOS are added around the sequence. Every loader (tokenizer.json,
/// GPT-2's vocab.json + merges.txt, GGUF metadata, llama2.c's tokenizer.bin) builds one of these.
public final class TextTokenizer: Tokenizer, @unchecked Sendable {
    /// How a word becomes initial symbols.
    public enum Symbols: Sendable {
        /// Byte-level BPE (GPT-2, Llama 3): the word's characters are GPT-2's byte characters.
        case byteLevel
        /// SentencePiece-style BPE: the word's Unicode characters; one missing from the vocabulary
        /// becomes its UTF-8 bytes' `<0xNN>` tokens (`byteFallback`) or the unknown token.
        case characters(byteFallback: Bool, unknown: Int?)
    }

    /// A token matched in the text before anything else (HF `added_tokens`).
    public struct AddedToken: Sendable {
        public let content: String
        public let id: Int
        /// Special tokens are matched only when the caller asks (parseSpecial); others always.
        public let special: Bool
        /// Whitespace before (lstrip) / after (rstrip) the token belongs to it.
        public let lstrip: Bool
        public let rstrip: Bool

        public init(content: String, id: Int, special: Bool, lstrip: Bool = false, rstrip: Bool = false) {
            self.content = content
            self.id = id
            self.special = special
            self.lstrip = lstrip
            self.rstrip = rstrip
        }
    }

    /// How token pieces turn back into bytes (HF `decoder`).
    public enum Decoding: Sendable {
        /// GPT-2's byte characters → bytes.
        case byteLevel
        /// `spaceSymbol` → " ", `<0xNN>` → that byte (HF Replace + ByteFallback + Fuse, Metaspace).
        case pieces(spaceSymbol: String)
    }

    public let pieces: [String]
    public let kinds: [TokenKind]
    private let tokenBytes: [[UInt8]]
    private let index: PieceIndex
    private let symbols: Symbols
    private let encoder: BytePairEncoder
    /// A word that is itself a token is that token, without merges (HF `ignore_merges`; Llama 3).
    private let ignoreMerges: Bool
    /// Byte b → the token of its byte character (byte-level) or its `<0xNN>` token (byte fallback).
    private let byteTokens: [Int32]
    private let normalizer: Normalizer?
    private let preTokenizer: PreTokenizer?
    private let added: [AddedToken]
    private let addedByFirst: [Unicode.Scalar: [AddedToken]]
    private let prefix: [Int], suffix: [Int]
    /// Words already encoded. An NSLock (a pthread mutex) rather than `Mutex`: ThreadSanitizer sees
    /// its ordering, so the scheduler's TSan run checks the tokenizer too.
    private let cacheLock = NSLock()
    private var cache: [String: [Int32]] = [:]

    public let bos: Int?
    public let eos: Int?
    public let stopTokens: Set<Int>
    public let chatTemplate: String?
    public let stripsLeadingSpace: Bool
    public var vocabularySize: Int { pieces.count }

    /// - Parameters:
    ///   - pieces: each token as the vocabulary stores it, by id.
    ///   - merges: the merge priorities (lower first) of (left, right) → merged token.
    ///   - prefix, suffix: tokens added around a sequence when asked (BOS, EOS).
    init(
        pieces: [String], kinds: [TokenKind], merges: [UInt64: BytePairEncoder.Merge], symbols: Symbols, ignoreMerges: Bool = false,
        normalizer: Normalizer? = nil, preTokenizer: PreTokenizer? = nil, decoding: Decoding, stripsLeadingSpace: Bool = false,
        added: [AddedToken] = [], prefix: [Int] = [], suffix: [Int] = [], bos: Int?, eos: Int?, stopTokens: Set<Int> = [],
        chatTemplate: String? = nil, index: PieceIndex? = nil, source: String
    ) throws {
        precondition(pieces.count == kinds.count, "one kind per piece")
        self.pieces = pieces
        var kinds = kinds
        for token in added where token.id < kinds.count && token.special { kinds[token.id] = .control }
        self.kinds = kinds
        let index = index ?? TokenizerSpec.index(pieces)
        self.index = index
        self.symbols = symbols
        encoder = BytePairEncoder(merges: merges)
        self.ignoreMerges = ignoreMerges
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.added = added
        var byFirst: [Unicode.Scalar: [AddedToken]] = [:]
        for token in added {
            guard let first = token.content.unicodeScalars.first else { continue }
            byFirst[first, default: []].append(token)
        }
        addedByFirst = byFirst.mapValues { $0.sorted { $0.content.unicodeScalars.count > $1.content.unicodeScalars.count } }
        self.prefix = prefix
        self.suffix = suffix
        self.bos = bos
        self.eos = eos
        var stops = stopTokens
        if let eos { stops.insert(eos) }
        self.stopTokens = stops
        self.chatTemplate = chatTemplate
        self.stripsLeadingSpace = stripsLeadingSpace
        // Bytes per token, from the decoder.
        var byteTokens = [Int32](repeating: -1, count: 256)
        var tokenBytes = [[UInt8]]()
        tokenBytes.reserveCapacity(pieces.count)
        for (id, piece) in pieces.enumerated() {
            switch decoding {
            case .byteLevel:
                tokenBytes.append(kinds[id] == .control || kinds[id] == .userDefined ? Array(piece.utf8) : (ByteLevel.fastBytes(of: piece) ?? Array(piece.utf8)))
            case let .pieces(space):
                if let byte = Self.byteValue(piece) {
                    tokenBytes.append([byte])
                    if byteTokens[Int(byte)] < 0 { byteTokens[Int(byte)] = Int32(id) }
                } else {
                    tokenBytes.append(Array((space.isEmpty ? piece : piece.replacing(space, with: " ")).utf8))
                }
            }
        }
        if case .byteLevel = symbols {
            for b in 0..<256 {
                guard let id = index.id(String(Character(ByteLevel.byteToScalar[b]))) else {
                    throw TokenizerError.malformedVocab(source: source, reason: "no token for byte \(b); a byte-level vocabulary needs all 256")
                }
                byteTokens[b] = id
            }
        }
        self.byteTokens = byteTokens
        self.tokenBytes = tokenBytes
        var unknown: Int?
        if case let .characters(_, id) = symbols { unknown = id }
        for id in prefix + suffix + added.map(\.id) + [bos, eos, unknown].compactMap({ $0 }) + Array(stops) where id < 0 || id >= pieces.count {
            throw TokenizerError.malformedVocab(source: source, reason: "token id \(id) is outside the vocabulary of \(pieces.count)")
        }
    }

    /// `<0xNN>` → NN.
    static func byteValue(_ piece: String) -> UInt8? {
        let u = Array(piece.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    public func id(ofPiece piece: String) -> Int? { index.id(piece).map(Int.init) }
    public func piece(_ id: Int) -> String? { id >= 0 && id < pieces.count ? pieces[id] : nil }
    public func isSpecial(_ id: Int) -> Bool { id >= 0 && id < kinds.count && kinds[id] == .control }

    public func bytes(of id: Int) throws -> [UInt8] {
        guard id >= 0, id < tokenBytes.count else { throw TokenizerError.unknownTokenID(id) }
        return tokenBytes[id]
    }

    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int] {
        var ids: [Int] = addSpecialTokens ? prefix : []
        if addedByFirst.isEmpty {
            encodeFragment(text, into: &ids)
        } else {
            splitAdded(text, parseSpecial: parseSpecial, into: &ids)
        }
        if addSpecialTokens { ids += suffix }
        return ids
    }

    /// Splits off added tokens (special ones only if `parseSpecial`), encoding the text between.
    private func splitAdded(_ text: String, parseSpecial: Bool, into ids: inout [Int]) {
        let scalars = Array(text.unicodeScalars)
        var start = 0, i = 0
        func flush(upTo end: Int) {
            if end > start { encodeFragment(String(String.UnicodeScalarView(scalars[start..<end])), into: &ids) }
        }
        while i < scalars.count {
            guard let candidates = addedByFirst[scalars[i]],
                  let token = candidates.first(where: { (parseSpecial || !$0.special) && matches($0.content, scalars, at: i) }) else {
                i += 1
                continue
            }
            var before = i
            if token.lstrip { while before > start, CharacterClass.isSpace(scalars[before - 1]) { before -= 1 } }
            flush(upTo: before)
            ids.append(token.id)
            i += token.content.unicodeScalars.count
            if token.rstrip { while i < scalars.count, CharacterClass.isSpace(scalars[i]) { i += 1 } }
            start = i
        }
        flush(upTo: scalars.count)
    }

    private func matches(_ content: String, _ scalars: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i
        for s in content.unicodeScalars {
            guard j < scalars.count, scalars[j] == s else { return false }
            j += 1
        }
        return true
    }

    private func encodeFragment(_ text: String, into ids: inout [Int]) {
        let normalized = normalizer?.apply(text) ?? text
        if let preTokenizer {
            for word in preTokenizer.split(normalized) { encodeWord(word, into: &ids) }
        } else {
            encodeWord(normalized, into: &ids)
        }
    }

    private func encodeWord(_ word: String, into ids: inout [Int]) {
        guard !word.isEmpty else { return }
        let cacheable = word.utf8.count <= 64
        if cacheable, let hit = cacheLock.withLock({ cache[word] }) {
            for id in hit { ids.append(Int(id)) }
            return
        }
        if ignoreMerges, let id = index.id(word) {
            ids.append(Int(id))
            return
        }
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.utf8.count)
        switch self.symbols {
        case .byteLevel:
            for scalar in word.unicodeScalars {
                // Every character of a byte-level word is one of the 256 byte characters.
                symbols.append(byteTokens[Int(ByteLevel.byte(of: scalar) ?? 0)])
            }
        case let .characters(byteFallback, unknown):
            for scalar in word.unicodeScalars {
                if let id = index.id(String(scalar)) {
                    symbols.append(id)
                } else if byteFallback {
                    for b in String(scalar).utf8 where byteTokens[Int(b)] >= 0 { symbols.append(byteTokens[Int(b)]) }
                } else if let unknown {
                    symbols.append(Int32(unknown))
                }
            }
        }
        encoder.encode(&symbols)
        for id in symbols { ids.append(Int(id)) }
        if cacheable {
            cacheLock.withLock {
                if cache.count > 100_000 { cache.removeAll(keepingCapacity: true) }
                cache[word] = symbols
            }
        }
    }
}
