import TernaryFormat
import TernaryTokenizer

/// Architecture name (the file's `architecture` metadata) → loader. Adding an architecture adds
/// its file and one line here. Planned: "bitnet" (Llama-style BitNet b1.58: RMSNorm, RoPE, GQA,
/// sub-norms, squared ReLU, KVCache) and "mamba2" (BitMamba-2, RecurrentState).
public enum ModelRegistry {
    public typealias Loader = (PackedModelFile, BPETokenizer?, InferenceContext) throws -> any LanguageModel

    public static let loaders: [String: Loader] = [
        "gpt2": { try GPT2Model(file: $0, tokenizer: $1, context: $2) },
    ]

    /// Opens a packed file and builds its model, tokenizer included.
    public static func load(path: String, context: InferenceContext = InferenceContext()) throws -> any LanguageModel {
        let file = try PackedModelFile(path: path)
        guard let loader = loaders[file.architecture] else {
            throw ModelError.unknownArchitecture(path: path, found: file.architecture, known: loaders.keys.sorted())
        }
        return try loader(file, try file.tokenizer(), context)
    }
}

extension PackedModelFile {
    /// The tokenizer stored in the metadata (`tokenizer.vocab`, `tokenizer.merges`), if any.
    public func tokenizer() throws -> BPETokenizer? {
        guard let vocabText = file.metadata["tokenizer.vocab"] else { return nil }
        guard let mergesText = file.metadata["tokenizer.merges"] else {
            throw FormatError.missingMetadata(path: path, key: "tokenizer.merges")
        }
        do {
            let vocab = try BPETokenizer.parseVocabulary(Data(vocabText.utf8), source: "\(path) (tokenizer.vocab)")
            return try BPETokenizer(vocabulary: vocab, merges: BPETokenizer.parseMerges(mergesText), source: "\(path) (tokenizer.merges)")
        } catch let error as TokenizerError {
            throw FormatError.badMetadata(path: path, key: "tokenizer", reason: error.description)
        }
    }

    /// Metadata entries for a tokenizer (the inverse of `tokenizer()`).
    public static func tokenizerMetadata(_ tokenizer: BPETokenizer) -> [String: String] {
        [
            "tokenizer.model": "gpt2-bpe",
            "tokenizer.vocab": JSONValue.object(tokenizer.vocabulary.map { ($0.key, .int($0.value)) }).serialized(),
            "tokenizer.merges": tokenizer.merges.joined(separator: "\n"),
        ]
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
