#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TernaryFormat
import TernaryTokenizer

/// Options of `ternary pack`.
public struct PackOptions: Sendable {
    public var embeddings: EmbeddingStorage = .f16
    /// Where to read the tokenizer when the model directory has none.
    public var tokenizerDirectory: String?
    /// Pack without a tokenizer (the file then works only on token ids).
    public var withoutTokenizer = false

    public init() {}
}

public struct PackReport: Sendable {
    public let inputBytes: Int
    public let outputBytes: Int
    public var ratio: Double { outputBytes > 0 ? Double(inputBytes) / Double(outputBytes) : 0 }
}

/// HF checkpoint directory → one packed ternary file.
public enum Packer {
    /// HF `model_type` → packer. Adding an architecture adds one line.
    static let packers: [String: (HFCheckpoint, QuantizationInfo, BPETokenizer?, (Int, Int, String) -> Void) throws -> PackedModelBuilder] = [
        "gpt2": GPT2Packer.pack,
    ]

    /// The quantization flags recorded by the trainer's export (`ternary_qat` in config.json).
    static func quantization(of checkpoint: HFCheckpoint, embeddings: EmbeddingStorage) throws -> QuantizationInfo {
        var info = QuantizationInfo(embeddings: embeddings)
        if let raw = checkpoint.config["ternary_qat"] {
            guard let flags = raw as? [String: Any] else {
                throw ConvertError.badConfig(path: checkpoint.configPath, reason: "ternary_qat must be an object")
            }
            info.rmsNormBeforeQuant = (flags["rms_norm"] as? Bool) ?? false
            if let eps = flags["rms_norm_eps"].flatMap(JSONReader.double) { info.rmsNormEpsilon = eps }
        }
        return info
    }

    public static func pack(
        directory: String, output: String, options: PackOptions, progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws -> PackReport {
        let checkpoint = try HFCheckpoint(directory: directory)
        let modelType = (checkpoint.config["model_type"] as? String) ?? "gpt2"
        guard let packer = packers[modelType] else {
            throw ConvertError.unsupportedModelType(path: checkpoint.configPath, found: modelType, known: packers.keys.sorted())
        }
        var tokenizer: BPETokenizer?
        if !options.withoutTokenizer {
            do {
                tokenizer = try BPETokenizer.load(directory: directory)
            } catch TokenizerError.noTokenizer {
                guard let other = options.tokenizerDirectory else {
                    throw TokenizerError.noTokenizer(directory: directory + " (pass --tokenizer DIR, or --no-tokenizer to pack without one)")
                }
                tokenizer = try BPETokenizer.load(directory: other)
            }
        }
        if let tokenizer, let vocab = checkpoint.config["vocab_size"] as? Int, tokenizer.vocabularySize > vocab {
            throw ConvertError.badConfig(path: checkpoint.configPath, reason: "the tokenizer has \(tokenizer.vocabularySize) tokens but vocab_size is \(vocab)")
        }
        let builder = try packer(checkpoint, try quantization(of: checkpoint, embeddings: options.embeddings), tokenizer, progress)
        try builder.write(to: output)
        let inputBytes = checkpoint.tensorNames.reduce(0) { $0 + ((try? checkpoint.view($1).data.count) ?? 0) }
        let outputBytes = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        return PackReport(inputBytes: inputBytes, outputBytes: outputBytes)
    }
}
