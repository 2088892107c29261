import TernaryFormat

extension TokenizerSpec {
    /// The tokenizer as GGUF `tokenizer.ggml.*` metadata, for the kinds llama.cpp runs the same
    /// way: byte-level BPE with GPT-2's pre-tokenizer (`gpt-2`) or Llama 3's (`llama-bpe`), and
    /// SentencePiece BPE with byte fallback (`llama`, each merged piece scored by minus its merge
    /// priority).
    public func ggufMetadata() throws -> [(String, GGUFWriter.Entry)] {
        var entries: [(String, GGUFWriter.Entry)] = []
        let types = kinds.map { Int32($0.rawValue) }
        switch (symbols, decoding) {
        case (.byteLevel, .byteLevel):
            let pre: String
            switch preTokenizer {
            case .byteLevel(addPrefixSpace: false, useRegex: true)?: pre = "gpt-2"
            case .sequence(let steps)? where steps.count == 2:
                guard case .split(.llama3) = steps[0], case .byteLevel(addPrefixSpace: false, useRegex: false) = steps[1] else { fallthrough }
                pre = "llama-bpe"
            default:
                throw TokenizerError.malformedVocab(source: "export", reason: "this byte-level pre-tokenizer has no llama.cpp name (gpt-2 and llama-bpe do)")
            }
            guard normalizer == nil, priorities == nil else {
                throw TokenizerError.malformedVocab(source: "export", reason: "a byte-level tokenizer with a normalizer or merge priorities has no GGUF form")
            }
            entries = [("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(pre)), ("tokenizer.ggml.tokens", .strings(pieces)),
                       ("tokenizer.ggml.token_type", .int32s(types)),
                       ("tokenizer.ggml.merges", .strings(merges.map { pieces[Int($0.0)] + " " + pieces[Int($0.1)] }))]
        case (.characters(byteFallback: true, let unknown), .pieces(spaceSymbol: "▁")):
            let prefixSpace: Bool
            switch normalizer {
            case .sequence(let steps)? where steps.count == 2:
                guard case .prepend("▁") = steps[0], case .replace(" ", with: "▁") = steps[1] else { fallthrough }
                prefixSpace = true
            case .replace(" ", with: "▁")?: prefixSpace = false
            default: throw TokenizerError.malformedVocab(source: "export", reason: "this SentencePiece normalizer has no GGUF form")
            }
            // llama.cpp merges the pair whose result scores highest: score = −priority (rank).
            var scores = [Float](repeating: 0, count: pieces.count)
            var scored = [Bool](repeating: false, count: pieces.count)
            for (rank, (_, _, merged)) in merges.enumerated() where !scored[Int(merged)] {
                scores[Int(merged)] = -(priorities?[rank] ?? Float(rank))
                scored[Int(merged)] = true
            }
            entries = [("tokenizer.ggml.model", .string("llama")), ("tokenizer.ggml.pre", .string("default")), ("tokenizer.ggml.tokens", .strings(pieces)),
                       ("tokenizer.ggml.scores", .float32s(scores)), ("tokenizer.ggml.token_type", .int32s(types)),
                       ("tokenizer.ggml.add_space_prefix", .bool(prefixSpace))]
            if let unknown { entries.append(("tokenizer.ggml.unknown_token_id", .uint32(UInt32(unknown)))) }
        default:
            throw TokenizerError.malformedVocab(source: "export", reason: "only byte-level BPE (GPT-2, Llama 3) and SentencePiece BPE tokenizers have a GGUF form")
        }
        if let bos { entries.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos)))) }
        if let eos { entries.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos)))) }
        entries.append(("tokenizer.ggml.add_bos_token", .bool(bos != nil && prefix == [bos!])))
        entries.append(("tokenizer.ggml.add_eos_token", .bool(eos != nil && suffix == [eos!])))
        if let chatTemplate { entries.append(("tokenizer.chat_template", .string(chatTemplate))) }
        return entries
    }
}
