#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TernaryFormat
import TernaryKernels
import TernaryTokenizer

/// What the engine knows of one architecture: how to read its config, its tensor manifest and how
/// to build the model. Each architecture file defines one; adding an architecture adds its file
/// and one line to `ModelRegistry.architectures`.
public struct Architecture: Sendable {
    /// The `architecture` metadata of a packed file.
    public let name: String
    /// The Hugging Face `model_type` values `ternary pack` reads as this architecture.
    public let modelTypes: [String]
    /// Prefixes of the tensor names in a Hugging Face checkpoint (tried in order).
    public let checkpointPrefixes: [String]
    /// Checkpoint tensors that carry no weights (causal-mask buffers).
    public let ignoredCheckpointSuffixes: [String]
    /// A checkpoint tensor that must equal another one because the head is tied (GPT-2).
    public let tiedHead: (head: String, embedding: String)?
    /// A Hugging Face config.json (or a packed file's config) → the config as a packed file stores
    /// it: validated, with this engine's defaults filled in.
    public let decodeConfig: @Sendable (JSONValue) throws -> JSONValue
    /// The tensors of a packed file for a (packed) config.
    public let manifest: @Sendable (JSONValue, QuantizationInfo) throws -> [TensorSpec]
    public let load: @Sendable (PackedModelFile, (any Tokenizer)?, TernaryKernels) throws -> any LanguageModel
}

/// Architecture name (the file's `architecture` metadata) → what builds it.
public enum ModelRegistry {
    public static let architectures: [Architecture] = [
        GPT2.architecture,
        Llama.architecture,
        BitNet.architecture,
        Mamba2.architecture,
    ]

    public static func architecture(named name: String) -> Architecture? { architectures.first { $0.name == name } }

    /// The architecture that packs a Hugging Face checkpoint of this `model_type`.
    public static func architecture(modelType: String) -> Architecture? { architectures.first { $0.modelTypes.contains(modelType) } }

    /// Opens a packed file and builds its model, tokenizer included; `isa` picks the kernels.
    public static func load(path: String, isa: KernelISA = .best) throws -> any LanguageModel {
        let file = try PackedModelFile(path: path)
        guard let architecture = architecture(named: file.architecture) else {
            throw ModelError.unknownArchitecture(path: path, found: file.architecture, known: architectures.map(\.name))
        }
        try checkPackedConfig(file, architecture)
        return try architecture.load(file, try file.tokenizer(), TernaryKernels(isa: isa))
    }

    /// A packed file stores its config in the packed form: every key of the architecture, with the
    /// types the packer writes, and nothing else (docs/FORMAT.md). Decoding fills defaults for
    /// Hugging Face configs; a packed config that needs them was not written by a packer.
    static func checkPackedConfig(_ file: PackedModelFile, _ architecture: Architecture) throws {
        func bad(_ reason: String) -> FormatError { .badMetadata(path: file.path, key: "config", reason: reason) }
        let normalized: JSONValue
        do { normalized = try architecture.decodeConfig(file.config) } catch let error as JSONValueDecoder.Failure { throw bad(error.description) }
        guard case let .object(stored) = file.config, case let .object(packed) = normalized else { return }
        let storedKeys = Dictionary(stored, uniquingKeysWith: { a, _ in a })
        for (key, value) in packed.sorted(by: { $0.0 < $1.0 }) {
            guard let found = storedKeys[key] else {
                throw bad("'\(key)' is missing (the packed form holds every key; the packer writes \(value.serialized())); re-pack the model")
            }
            guard found == value else {
                throw bad("'\(key)' is \(found.serialized()) where the packed form is \(value.serialized()); re-pack the model")
            }
        }
        if let extra = stored.map(\.0).filter({ key in !packed.contains { $0.0 == key } }).sorted().first {
            throw bad("'\(extra)' is not a key of \(architecture.name) configs; re-pack the model")
        }
        guard file.file.metadata["config"] == normalized.serialized() else {
            throw bad("not in canonical form (sorted keys, no spaces, numbers as the packer writes them); re-pack the model")
        }
    }
}

extension PackedModelFile {
    /// The tokenizer stored in the metadata, if any (docs/FORMAT.md, "Tokenizer").
    public func tokenizerSpec() throws -> TokenizerSpec? {
        do {
            return try TokenizerSpec(metadata: file.metadata, source: path)
        } catch let error as TokenizerError {
            throw FormatError.badMetadata(path: path, key: "tokenizer", reason: error.reason)
        }
    }

    /// The stored tokenizer, built.
    public func tokenizer() throws -> TextTokenizer? {
        guard let spec = try tokenizerSpec() else { return nil }
        do {
            return try spec.build(source: path)
        } catch let error as TokenizerError {
            throw FormatError.badMetadata(path: path, key: "tokenizer", reason: error.reason)
        }
    }
}
