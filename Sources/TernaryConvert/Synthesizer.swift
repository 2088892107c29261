#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import TernaryFormat
import TernaryKernels
import TernaryModels
import TernaryTokenizer

/// Packed files with the exact shapes of real architectures and random weights, for benchmarks
/// and tests (no multi-GB checkpoint needed), written through the architecture's manifest like a
/// real pack.
public enum Synthesizer {
    public struct Preset: Sendable {
        public let name: String
        public let architecture: String
        /// The config, with Hugging Face key names.
        public let config: JSONValue
        public var rmsNormBeforeQuant = false
    }

    static func gpt2(_ name: String, layers: Int, width: Int, heads: Int) -> Preset {
        Preset(name: name, architecture: "gpt2", config: .object([
            ("n_layer", .int(layers)), ("n_embd", .int(width)), ("n_head", .int(heads)), ("n_positions", .int(1024)), ("vocab_size", .int(50257)),
        ]))
    }

    /// A Llama-family config (HF key names); `rmsNorm`: each linear has its own BitLinear RMSNorm.
    static func llama(_ name: String, architecture: String, layers: Int, width: Int, ffn: Int, heads: Int, kvHeads: Int, vocabulary: Int,
                      context: Int, theta: Double, activation: String, tied: Bool, rmsNorm: Bool = false) -> Preset {
        Preset(name: name, architecture: architecture, config: .object([
            ("num_hidden_layers", .int(layers)), ("hidden_size", .int(width)), ("intermediate_size", .int(ffn)),
            ("num_attention_heads", .int(heads)), ("num_key_value_heads", .int(kvHeads)), ("vocab_size", .int(vocabulary)),
            ("max_position_embeddings", .int(context)), ("rope_theta", .double(theta)), ("hidden_act", .string(activation)),
            ("rms_norm_eps", .double(1e-5)), ("tie_word_embeddings", .bool(tied)),
        ]), rmsNormBeforeQuant: rmsNorm)
    }

    /// A Mamba-2 config (HF key names); inner width = 2 · width = heads · headSize.
    static func mamba2(_ name: String, layers: Int, width: Int, heads: Int, state: Int, groups: Int, vocabulary: Int, tied: Bool,
                       bitmamba: Bool = false) -> Preset {
        Preset(name: name, architecture: "mamba2", config: .object([
            ("bitmamba", .bool(bitmamba)),
            ("num_hidden_layers", .int(layers)), ("hidden_size", .int(width)), ("num_heads", .int(heads)), ("head_dim", .int(2 * width / heads)),
            ("state_size", .int(state)), ("n_groups", .int(groups)), ("expand", .int(2)), ("conv_kernel", .int(4)),
            ("vocab_size", .int(vocabulary)), ("tie_word_embeddings", .bool(tied)), ("layer_norm_epsilon", .double(1e-5)),
        ]))
    }

    public static let presets: [Preset] = [
        gpt2("tiny", layers: 2, width: 64, heads: 4),
        gpt2("gpt2", layers: 12, width: 768, heads: 12),
        gpt2("gpt2-medium", layers: 24, width: 1024, heads: 16),
        gpt2("gpt2-large", layers: 36, width: 1280, heads: 20),
        gpt2("gpt2-xl", layers: 48, width: 1600, heads: 25),
        // microsoft/bitnet-b1.58-2B-4T
        llama("bitnet-2b4t", architecture: "bitnet", layers: 30, width: 2560, ffn: 6912, heads: 20, kvHeads: 5, vocabulary: 128_256,
              context: 4096, theta: 500_000, activation: "relu2", tied: true),
        // 1bitLLM/bitnet_b1_58-large: Llama-shaped, a BitLinear RMSNorm before every linear layer
        llama("bitnet-large", architecture: "llama", layers: 24, width: 1536, ffn: 4096, heads: 16, kvHeads: 16, vocabulary: 32_002,
              context: 2048, theta: 10_000, activation: "silu", tied: false, rmsNorm: true),
        // HF1BitLLM/Llama3-8B-1.58-100B-tokens (Llama 3 8B's shapes)
        llama("llama3-8b-1.58", architecture: "llama", layers: 32, width: 4096, ffn: 14_336, heads: 32, kvHeads: 8, vocabulary: 128_256,
              context: 8192, theta: 500_000, activation: "silu", tied: false),
        // state-spaces/mamba2-1.3b: 64 heads of 64, state 128, one group, vocabulary padded to 50288
        mamba2("mamba2-1.3b", layers: 48, width: 2048, heads: 64, state: 128, groups: 1, vocabulary: 50_288, tied: true),
        // Zhayr1/BitMamba-2 255M and 1B (bitmamba.c's shapes): heads of 128, B and C one value per
        // head, GPT-2 vocabulary, a ternary head
        mamba2("bitmamba2-255m", layers: 24, width: 1024, heads: 16, state: 1, groups: 16, vocabulary: 50_257, tied: false, bitmamba: true),
        mamba2("bitmamba2-1b", layers: 32, width: 2048, heads: 32, state: 1, groups: 32, vocabulary: 50_257, tied: false, bitmamba: true),
    ]

    public static func preset(named name: String) throws -> Preset {
        guard let p = presets.first(where: { $0.name == name }) else {
            throw ConvertError.badOption(option: "--preset", value: name, expected: presets.map(\.name).joined(separator: ", "))
        }
        return p
    }

    /// Writes a random model of `preset`'s shapes to `output`.
    public static func write(
        preset: Preset, embeddings: WeightFormat, weights: WeightFormat = .ternary, seed: UInt64, output: String,
        tokenizer: TokenizerSpec? = nil, progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws {
        guard let architecture = ModelRegistry.architecture(named: preset.architecture) else {
            preconditionFailure("preset \(preset.name) names an unregistered architecture")
        }
        let config = try architecture.decodeConfig(preset.config)
        let quantization = QuantizationInfo(embeddings: embeddings, weights: weights, rmsNormBeforeQuant: preset.rmsNormBeforeQuant,
                                            rmsNormEpsilon: preset.rmsNormBeforeQuant ? 1e-5 : 1e-6)
        var builder = try Packer.build(
            architecture: architecture, config: config, source: RandomWeights(seed: seed), quantization: quantization,
            tokenizer: tokenizer, sourceName: "synth", progress: progress)
        builder.metadata["synthetic"] = preset.name
        try builder.write(to: output)
    }
}

/// Random weights by manifest name: ternary linear layers (uniform random codes with the unused
/// code 3 folded onto 0, so about half the weights are 0 and a quarter each ±1, β = 0.02),
/// N(0, 0.02²) embeddings, N(0, 0.01²) tables, norm weights 1 and biases 0.
final class RandomWeights: TensorSource {
    private var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    var tensorNames: [String] { [] }
    func contains(_ name: String) -> Bool { false }
    func unusedTensorNames() -> [String] { [] }

    func matrix(_ name: String, rows: Int, k: Int, transposed: Bool) throws -> SourceMatrix {
        if name.contains("wte") || name.contains("embed") || name.contains("lm_head") {
            return .float(normalTable(rows * k, scale: 0.02))
        }
        return .packedTernary(bytes: randomTernary(rows: rows, k: k), beta: 0.02)
    }

    func floats(_ name: String, shape: [Int]) throws -> [Float] {
        let count = shape.reduce(1, *)
        if shape.count == 2 { return (0..<count).map { _ in random.normal() * 0.01 } }
        return [Float](repeating: name.hasSuffix("bias") ? 0 : 1, count: count)
    }

    /// Embedding tables are large (128k × 4096 for Llama 3): filled in parallel chunks, each from its
    /// own generator seeded from this one, so a file stays a function of the seed.
    func normalTable(_ count: Int, scale: Float) -> [Float] {
        let chunk = 1 << 20, chunks = (count + chunk - 1) / chunk
        let seeds = (0..<chunks).map { _ in random.next() }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                var local = SplitMix64(seed: seeds[c])
                for i in (c * chunk)..<min(count, (c + 1) * chunk) { base[i] = local.normal() * scale }
            }
        }
        return values
    }

    func randomTernary(rows: Int, k: Int) -> [UInt8] {
        let rowBytes = TernaryLayout.rowBytes(k)
        var bytes = [UInt8](repeating: 0x55, count: rows * rowBytes)  // code 1 (zero) everywhere
        bytes.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in 0..<words.count {
                var x = random.next()
                x ^= ((x & (x >> 1)) & 0x5555_5555_5555_5555) << 1  // code 3 → 1
                words[i] = x
            }
        }
        // Padding positions must hold code 1.
        if k % TernaryLayout.blockWeights != 0 {
            for r in 0..<rows {
                let row = bytes[(r * rowBytes)..<((r + 1) * rowBytes)].withUnsafeBytes { TernaryLayout.unpackRow($0, count: k) }
                row.withUnsafeBufferPointer { b in
                    bytes.withUnsafeMutableBytes { TernaryLayout.packRow(b, into: UnsafeMutableRawBufferPointer(rebasing: $0[(r * rowBytes)..<((r + 1) * rowBytes)])) }
                }
            }
        }
        return bytes
    }
}

extension SplitMix64 {
    /// A standard normal (Box–Muller).
    mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-300), u2 = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
}
