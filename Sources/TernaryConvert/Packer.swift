#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernaryFormat
import TernaryModels
import TernaryTokenizer

/// Options of `ternary pack`.
public struct PackOptions: Sendable {
    /// How token embeddings and LM heads are stored.
    public var embeddings: WeightFormat = .f16
    /// How linear layers are stored (ternary: quantized at pack time unless already ternary).
    public var weights: WeightFormat = .ternary
    /// Where to read the tokenizer when the model directory has none.
    public var tokenizerDirectory: String?
    /// Pack without a tokenizer (the file then works only on token ids).
    public var withoutTokenizer = false
    /// Accept a BitNet checkpoint in transformers' legacy `bitlinear` convention, whose weight_scale
    /// divides the outputs (the packer then stores its reciprocal).
    public var legacyBitLinear = false

    public init() {}
}

public struct PackReport: Sendable {
    public let inputBytes: Int
    public let outputBytes: Int
    public var ratio: Double { outputBytes > 0 ? Double(inputBytes) / Double(outputBytes) : 0 }
}

/// A model checkpoint → one packed ternary file, driven by the architecture's tensor manifest.
public enum Packer {
    /// Packs a Hugging Face model directory or a llama2.c checkpoint file.
    public static func pack(
        input: String, output: String, options: PackOptions, progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws -> PackReport {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else { throw ConvertError.notADirectory(path: input) }
        if isDirectory { return try pack(directory: input, output: output, options: options, progress: progress) }
        if GGUFFile.isGGUF(path: input) { return try pack(gguf: input, output: output, options: options, progress: progress) }
        if BitMambaCheckpoint.isBitMamba(path: input) { return try pack(bitmamba: input, output: output, options: options, progress: progress) }
        return try pack(llama2c: input, output: output, options: options, progress: progress)
    }

    public static func pack(
        directory: String, output: String, options: PackOptions, progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws -> PackReport {
        let checkpoint = try HFCheckpoint(directory: directory)
        let modelType = checkpoint.config["model_type"]?.string ?? "gpt2"
        guard let architecture = ModelRegistry.architecture(modelType: modelType) else {
            throw ConvertError.unsupportedModelType(
                path: checkpoint.configPath, found: modelType, known: ModelRegistry.architectures.flatMap(\.modelTypes).sorted())
        }
        checkpoint.prefixes = architecture.checkpointPrefixes
        var tokenizer: TokenizerSpec?
        if !options.withoutTokenizer {
            if let other = options.tokenizerDirectory {
                tokenizer = try TokenizerLoader.spec(path: other)
            } else {
                do {
                    tokenizer = try TokenizerLoader.spec(path: directory)
                } catch TokenizerError.noTokenizer {
                    throw TokenizerError.noTokenizer(directory: directory + " (pass --tokenizer DIR or FILE, or --no-tokenizer to pack without one)")
                }
            }
            tokenizer?.completeSpecialTokens(config: checkpoint.config, generationConfig: checkpoint.generationConfig)
        }
        var quantization = try quantizationFlags(checkpoint, options: options)
        quantization.embeddings = options.embeddings
        quantization.weights = options.weights
        try packSource(checkpoint, config: checkpoint.config, configPath: checkpoint.configPath, architecture: architecture,
                       quantization: quantization, tokenizer: tokenizer, sourceName: directory, output: output, progress: progress)
        let inputBytes = checkpoint.tensorNames.reduce(0) { $0 + ((try? checkpoint.view($1).data.count) ?? 0) }
        return PackReport(inputBytes: inputBytes, outputBytes: fileSize(output))
    }

    /// A llama2.c checkpoint (`--tokenizer` names its tokenizer.bin).
    public static func pack(
        llama2c path: String, output: String, options: PackOptions, progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws -> PackReport {
        let checkpoint = try Llama2cCheckpoint(path: path)
        var tokenizer: TokenizerSpec?
        if !options.withoutTokenizer {
            guard let file = options.tokenizerDirectory else {
                throw TokenizerError.noTokenizer(directory: path + " (a llama2.c checkpoint has none inside: pass --tokenizer tokenizer.bin, or --no-tokenizer)")
            }
            tokenizer = try TokenizerLoader.spec(path: file)
        }
        var quantization = QuantizationInfo(embeddings: options.embeddings, weights: options.weights)
        quantization.rmsNormEpsilon = 1e-6
        try packSource(checkpoint, config: checkpoint.config, configPath: path, architecture: Llama.architecture, quantization: quantization,
                       tokenizer: tokenizer, sourceName: path, output: output, progress: progress)
        return PackReport(inputBytes: fileSize(path), outputBytes: fileSize(output))
    }

    /// A GGUF model file (llama.cpp's or bitnet.cpp's): its ternary tensors keep their codes and
    /// scale, its other tensors are decoded and stored in the formats asked for.
    public static func pack(
        gguf path: String, output: String, options: PackOptions, progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws -> PackReport {
        let checkpoint = try GGUFCheckpoint(path: path)
        var tokenizer: TokenizerSpec?
        if !options.withoutTokenizer {
            if let other = options.tokenizerDirectory {
                tokenizer = try TokenizerLoader.spec(path: other)
            } else {
                tokenizer = try checkpoint.tokenizer()
                guard tokenizer != nil else {
                    throw ConvertError.badConfig(path: path, reason: "it has no tokenizer (no tokenizer.ggml.* metadata); pass --tokenizer FILE, or --no-tokenizer to pack the weights alone")
                }
            }
        }
        let quantization = QuantizationInfo(embeddings: options.embeddings, weights: options.weights)
        try packSource(checkpoint, config: checkpoint.config, configPath: path, architecture: checkpoint.architecture, quantization: quantization,
                       tokenizer: tokenizer, sourceName: path, output: output, progress: progress)
        return PackReport(inputBytes: fileSize(path), outputBytes: fileSize(output))
    }

    /// A BitMamba-2 file (bitmamba.c's BIT2; `--tokenizer` names its GPT-2 tokenizer): the ternary
    /// projections and head keep their codes and scales.
    public static func pack(
        bitmamba path: String, output: String, options: PackOptions, progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws -> PackReport {
        let checkpoint = try BitMambaCheckpoint(path: path)
        var tokenizer: TokenizerSpec?
        if !options.withoutTokenizer {
            guard let file = options.tokenizerDirectory else {
                throw TokenizerError.noTokenizer(directory: path + " (a BitMamba-2 file has none inside: pass --tokenizer with the GPT-2 tokenizer, or --no-tokenizer)")
            }
            tokenizer = try TokenizerLoader.spec(path: file)
        }
        let quantization = QuantizationInfo(embeddings: options.embeddings, weights: options.weights)
        try packSource(checkpoint, config: checkpoint.config, configPath: path, architecture: ModelRegistry.architecture(named: "mamba2")!, quantization: quantization,
                       tokenizer: tokenizer, sourceName: path, output: output, progress: progress)
        return PackReport(inputBytes: fileSize(path), outputBytes: fileSize(output))
    }

    /// Config → manifest → tensors → file, for any source.
    static func packSource(
        _ source: TensorSource, config rawConfig: JSONValue, configPath: String, architecture: Architecture, quantization: QuantizationInfo,
        tokenizer: TokenizerSpec?, sourceName: String, output: String, progress: (Int, Int, String) -> Void
    ) throws {
        let config: JSONValue
        do {
            config = try architecture.decodeConfig(rawConfig)
        } catch let failure as JSONValueDecoder.Failure {
            throw ConvertError.badConfig(path: configPath, reason: failure.description)
        }
        if let tokenizer, let vocab = config["vocab_size"]?.integer, tokenizer.pieces.count > vocab {
            throw ConvertError.badConfig(path: configPath, reason: "the tokenizer has \(tokenizer.pieces.count) tokens but vocab_size is \(vocab)")
        }
        let builder = try build(architecture: architecture, config: config, source: source, quantization: quantization,
                                tokenizer: tokenizer, sourceName: sourceName, progress: progress)
        try builder.write(to: output)
    }

    /// The size of a file in bytes (0 if it cannot be read).
    static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// The quantization flags recorded by the trainer's export (`ternary_qat` in config.json) or by
    /// a Hugging Face BitNet checkpoint (`quantization_config`).
    static func quantizationFlags(_ checkpoint: HFCheckpoint, options: PackOptions) throws -> QuantizationInfo {
        var info = QuantizationInfo(embeddings: .f16)
        if let q = checkpoint.config["quantization_config"], !q.isNull {
            func bad(_ reason: String) -> ConvertError { .badConfig(path: checkpoint.configPath, reason: "quantization_config: \(reason)") }
            guard q["quant_method"]?.string == "bitnet" else {
                throw bad("quant_method '\(q["quant_method"]?.string ?? "?")' is not supported; ternary pack reads BitNet checkpoints (quant_method bitnet) and unquantized ones")
            }
            switch q["linear_class"]?.string ?? "bitlinear" {
            case "autobitlinear": checkpoint.ternaryScale = .multiplies
            case "bitlinear":
                // transformers' BitLinear divides the outputs by weight_scale, the opposite of
                // AutoBitLinear and of every scale this engine stores; mixing them up silently gives
                // a model whose outputs are off by β², so it takes an explicit flag.
                guard options.legacyBitLinear else {
                    throw bad("linear_class 'bitlinear' stores a weight_scale that divides the outputs (transformers' legacy BitLinear); if the checkpoint really was saved that way, pass --legacy-bitlinear")
                }
                checkpoint.ternaryScale = .divides
            case let other: throw bad("linear_class '\(other)' is not one of autobitlinear, bitlinear")
            }
            guard ["offline", "online"].contains(q["quantization_mode"]?.string ?? "offline") else {
                throw bad("quantization_mode must be offline or online")
            }
            if let notConverted = q["modules_to_not_convert"], case let .array(names) = notConverted,
               let other = names.compactMap(\.string).first(where: { $0 != "lm_head" }) {
                throw bad("modules_to_not_convert lists '\(other)'; only lm_head may stay unquantized")
            }
            if q["use_rms_norm"]?.boolean == true {
                info.rmsNormBeforeQuant = true
                if let eps = q["rms_norm_eps"]?.number { info.rmsNormEpsilon = eps }
            }
        }
        if let flags = checkpoint.config["ternary_qat"] {
            guard case .object = flags else { throw ConvertError.badConfig(path: checkpoint.configPath, reason: "ternary_qat must be an object") }
            if let rms = flags["rms_norm"] {
                guard let value = rms.boolean else { throw ConvertError.badConfig(path: checkpoint.configPath, reason: "ternary_qat.rms_norm must be true or false") }
                info.rmsNormBeforeQuant = value
            }
            if let eps = flags["rms_norm_eps"]?.number { info.rmsNormEpsilon = eps }
        }
        return info
    }

    /// Every tensor of `architecture`'s manifest for `config`, read from `source` and stored in the
    /// formats `quantization` names. Shared by `pack` and `synth`.
    public static func build(
        architecture: Architecture, config: JSONValue, source: TensorSource, quantization: QuantizationInfo,
        tokenizer: TokenizerSpec?, sourceName: String, progress: (Int, Int, String) -> Void
    ) throws -> PackedModelBuilder {
        let manifest = try architecture.manifest(config, quantization)
        var builder = PackedModelBuilder(architecture: architecture.name, config: config, quantization: quantization, tokenizer: tokenizer)
        progress(0, manifest.count, "")
        for (i, spec) in manifest.enumerated() {
            switch spec.kind {
            case let .linear(rows, k):
                try builder.addMatrix(spec.name, source.matrix(spec.source, rows: rows, k: k, transposed: spec.transposed),
                                      rows: rows, k: k, format: quantization.weights)
            case let .embedding(rows, k):
                try builder.addMatrix(spec.name, source.matrix(spec.source, rows: rows, k: k, transposed: spec.transposed),
                                      rows: rows, k: k, format: quantization.embeddings)
            case let .vector(n):
                try builder.addFloats(spec.name, source.floats(spec.source, shape: [n]), shape: [n])
            case let .table(rows, columns):
                try builder.addFloatTable(spec.name, source.floats(spec.source, shape: [rows, columns]), shape: [rows, columns])
            }
            progress(i + 1, manifest.count, spec.name)
        }
        if let (head, embedding) = architecture.tiedHead, source.contains(head), !manifest.contains(where: { $0.source == head }),
           let shape = manifest.first(where: { $0.source == embedding })?.matrixShape {
            // A tied head may be saved as a copy of the embeddings; anything else is a different model.
            let shape = [shape.rows, shape.k]
            guard try source.floats(head, shape: shape) == source.floats(embedding, shape: shape) else {
                throw ConvertError.untiedHead(directory: sourceName)
            }
        }
        let unused = source.unusedTensorNames().filter { name in !architecture.ignoredCheckpointSuffixes.contains { name.hasSuffix($0) } }
        if !unused.isEmpty { throw ConvertError.unusedTensors(directory: sourceName, names: unused) }
        return builder
    }
}
