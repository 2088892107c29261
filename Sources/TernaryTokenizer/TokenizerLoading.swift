#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension BPETokenizer {
    /// Loads a GPT-2 tokenizer from a directory holding vocab.json + merges.txt (Hugging Face),
    /// encoder.json + vocab.bpe (OpenAI), or tokenizer.json.
    public static func load(directory: String) throws -> BPETokenizer {
        let fm = FileManager.default
        func path(_ name: String) -> String { URL(fileURLWithPath: directory).appendingPathComponent(name).path }
        for (vocab, merges) in [("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")]
        where fm.fileExists(atPath: path(vocab)) && fm.fileExists(atPath: path(merges)) {
            return try load(vocabJSON: path(vocab), mergesFile: path(merges))
        }
        if fm.fileExists(atPath: path("tokenizer.json")) { return try load(tokenizerJSON: path("tokenizer.json")) }
        throw TokenizerError.noTokenizer(directory: directory)
    }

    public static func load(vocabJSON: String, mergesFile: String) throws -> BPETokenizer {
        let vocab = try parseVocabulary(try readData(vocabJSON), source: vocabJSON)
        let text = String(decoding: try readData(mergesFile), as: UTF8.self)
        return try BPETokenizer(vocabulary: vocab, merges: parseMerges(text), source: mergesFile)
    }

    public static func load(tokenizerJSON: String) throws -> BPETokenizer {
        let file: TokenizerJSON
        do {
            file = try JSONDecoder().decode(TokenizerJSON.self, from: try readData(tokenizerJSON))
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError.malformedVocab(source: tokenizerJSON, reason: "expected model.vocab (token → integer id) and model.merges")
        }
        var vocab = file.model.vocab
        for token in file.added_tokens ?? [] { vocab[token.content] = token.id }
        let merges: [String] = try file.model.merges.enumerated().map { index, item in
            switch item {
            case .joined(let s): return s
            case .pair(let pair) where pair.count == 2: return pair[0] + " " + pair[1]
            case .pair: throw TokenizerError.malformedMerges(source: tokenizerJSON, line: index + 1, reason: "not a pair")
            }
        }
        return try BPETokenizer(vocabulary: vocab, merges: merges, source: tokenizerJSON)
    }

    /// Parses a vocabulary JSON object (token → id).
    public static func parseVocabulary(_ data: Data, source: String) throws -> [String: Int] {
        guard let vocab = try? JSONDecoder().decode([String: Int].self, from: data) else {
            throw TokenizerError.malformedVocab(source: source, reason: "not a JSON object of token → integer id")
        }
        return vocab
    }

    /// Merge lines without the `#version` header or blank lines.
    public static func parseMerges(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true)
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            .filter { !$0.hasPrefix("#version") && !$0.isEmpty }
    }

    private static func readData(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError.missingFile(path: path) }
        return data
    }
}

/// The parts of a Hugging Face tokenizer.json that a byte-level BPE needs.
private struct TokenizerJSON: Decodable {
    struct Model: Decodable {
        let vocab: [String: Int]
        let merges: [Merge]
    }
    struct AddedToken: Decodable {
        let content: String
        let id: Int
    }
    /// "left right" (older files) or ["left", "right"] (newer ones).
    enum Merge: Decodable {
        case joined(String)
        case pair([String])

        init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let joined = try? value.decode(String.self) { self = .joined(joined) } else { self = .pair(try value.decode([String].self)) }
        }
    }
    let model: Model
    let added_tokens: [AddedToken]?
}
