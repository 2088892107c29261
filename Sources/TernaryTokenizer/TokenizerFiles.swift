import TernaryFormat

extension TokenizerSpec {
    /// A GGUF file's `tokenizer.ggml.*` metadata: `gpt2` (byte-level BPE with the pre-tokenizer
    /// `tokenizer.ggml.pre` names) or `llama` (SentencePiece BPE with scores and byte fallback), as
    /// llama.cpp reads them.
    public init(gguf file: GGUFFile) throws {
        let source = file.path
        func bad(_ key: String, _ reason: String) -> FormatError { .badMetadata(path: source, key: key, reason: reason) }
        let m = file.metadata
        guard let model = m["tokenizer.ggml.model"]?.string else { throw FormatError.missingMetadata(path: source, key: "tokenizer.ggml.model") }
        guard case let .strings(tokenList)? = m["tokenizer.ggml.tokens"], tokenList.count > 0 else { throw bad("tokenizer.ggml.tokens", "must be a non-empty array of strings") }
        let tokens = tokenList.all
        guard tokens.count == tokenList.count else { throw bad("tokenizer.ggml.tokens", "holds a token that is not UTF-8") }
        pieces = tokens
        kinds = [TokenKind](repeating: .normal, count: tokens.count)
        if let types = m["tokenizer.ggml.token_type"]?.array {
            guard types.count == tokens.count else { throw bad("tokenizer.ggml.token_type", "has \(types.count) entries for \(tokens.count) tokens") }
            for (i, t) in types.enumerated() { kinds[i] = t.integer.flatMap(TokenKind.init(rawValue:)) ?? .normal }
        }
        func tokenID(_ key: String) throws -> Int? {
            guard let value = m[key] else { return nil }
            guard let id = value.integer, id >= 0, id < tokens.count else { throw bad(key, "must be a token id below \(tokens.count)") }
            return id
        }
        bos = try tokenID("tokenizer.ggml.bos_token_id")
        eos = try tokenID("tokenizer.ggml.eos_token_id")
        for key in ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] { if let id = try tokenID(key) { stopTokens.insert(id) } }
        chatTemplate = m["tokenizer.chat_template"]?.string
        added = kinds.enumerated().compactMap { id, kind in
            kind == .control || kind == .userDefined ? .init(content: tokens[id], id: id, special: kind == .control) : nil
        }
        switch model {
        case "gpt2":
            let index = Self.index(tokens)
            pieceIndex = index
            guard case let .strings(lines)? = m["tokenizer.ggml.merges"] else { throw bad("tokenizer.ggml.merges", "a gpt2 tokenizer needs its merges") }
            merges = try Self.merges(count: lines.count, line: lines.bytes, index: index, source: source)
            symbols = .byteLevel
            decoding = .byteLevel
            let pre = m["tokenizer.ggml.pre"]?.string ?? "default"
            switch pre {
            case "default", "gpt-2", "gpt2":
                preTokenizer = .byteLevel(addPrefixSpace: false, useRegex: true)
            case "llama-bpe", "llama3", "llama-v3", "smaug-bpe":
                preTokenizer = .sequence([.split(.llama3), .byteLevel(addPrefixSpace: false, useRegex: false)])
                ignoreMerges = true
            default:
                throw bad("tokenizer.ggml.pre", "pre-tokenizer '\(pre)' is not supported (gpt-2, llama-bpe)")
            }
            if m["tokenizer.ggml.add_bos_token"]?.bool == true, let bos { prefix = [bos] }
        case "llama":
            guard let scores = m["tokenizer.ggml.scores"]?.array?.compactMap({ $0.number.map(Float.init) }), scores.count == tokens.count else {
                throw bad("tokenizer.ggml.scores", "a llama (SentencePiece) tokenizer needs one score per token")
            }
            let unknown = try tokenID("tokenizer.ggml.unknown_token_id") ?? Self.index(tokens).id("<unk>").map(Int.init)
            (merges, priorities) = Self.scoreMerges(pieces: tokens, scores: scores, kinds: kinds)
            symbols = .characters(byteFallback: true, unknown: unknown)
            let prefixSpace = m["tokenizer.ggml.add_space_prefix"]?.bool ?? true
            normalizer = prefixSpace ? .sequence([.prepend("▁"), .replace(" ", with: "▁")]) : .replace(" ", with: "▁")
            decoding = .pieces(spaceSymbol: "▁")
            stripsLeadingSpace = prefixSpace
            if m["tokenizer.ggml.add_bos_token"]?.bool ?? true, let bos { prefix = [bos] }
        default:
            throw bad("tokenizer.ggml.model", "'\(model)' is not supported (gpt2, llama)")
        }
        if m["tokenizer.ggml.add_eos_token"]?.bool == true, let eos { suffix = [eos] }
        addEndOfTurnStops()
    }

    /// llama2.c's tokenizer.bin (e.g. stories260K's tok512.bin): an int32 max token length, then per
    /// token a float32 score, an int32 length and the bytes. Pieces hold real spaces (llama2.c's
    /// export replaced "▁"); id 0 is <unk>, 1 BOS, 2 EOS, 3…258 the bytes <0x00>…<0xFF>. Encoding
    /// as run.c does it: a space before the text, then merges by score; BOS starts a sequence and
    /// ends a generation, as run.c stops there.
    public init(llama2c bytes: [UInt8], source: String) throws {
        func bad(_ reason: String) -> TokenizerError { .malformedVocab(source: source, reason: reason) }
        guard bytes.count >= 4 else { throw bad("shorter than its 4-byte header; not a llama2.c tokenizer file") }
        func int32(_ at: Int) -> Int32 { bytes.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: Int32.self)) } }
        let maxLength = int32(0)
        guard maxLength > 0, maxLength <= 1 << 16 else { throw bad("max token length \(maxLength) is absurd; not a llama2.c tokenizer file") }
        var offset = 4, pieces: [String] = [], scores: [Float] = []
        while offset < bytes.count {
            guard bytes.count - offset >= 8 else { throw bad("truncated inside token \(pieces.count)'s header") }
            let score = Float(bitPattern: UInt32(bitPattern: int32(offset)))
            let length = Int(int32(offset + 4))
            offset += 8
            guard length >= 0, length <= Int(maxLength), bytes.count - offset >= length else {
                throw bad("token \(pieces.count) claims \(length) bytes (max \(maxLength), \(bytes.count - offset) left); the file is truncated or corrupt")
            }
            guard let piece = String(validating: bytes[offset..<(offset + length)], as: UTF8.self) else { throw bad("token \(pieces.count) is not UTF-8") }
            guard score.isFinite else { throw bad("token \(pieces.count) has a non-finite score") }
            pieces.append(piece)
            scores.append(score)
            offset += length
        }
        guard pieces.count > 258 else { throw bad("\(pieces.count) tokens; a llama2.c vocabulary has <unk>, <s>, </s> and 256 byte tokens first") }
        var kinds = [TokenKind](repeating: .normal, count: pieces.count)
        kinds[0] = .unknown
        kinds[1] = .control
        kinds[2] = .control
        for id in 3..<259 where TextTokenizer.byteValue(pieces[id]) != nil { kinds[id] = .byte }
        self.pieces = pieces
        self.kinds = kinds
        (merges, priorities) = Self.scoreMerges(pieces: pieces, scores: scores, kinds: kinds)
        symbols = .characters(byteFallback: true, unknown: 0)
        normalizer = .prepend(" ")
        preTokenizer = nil
        decoding = .pieces(spaceSymbol: "")
        stripsLeadingSpace = true
        added = [.init(content: pieces[1], id: 1, special: true), .init(content: pieces[2], id: 2, special: true)]
        prefix = [1]
        bos = 1
        eos = 2
        stopTokens = [1, 2]
    }
}
