import TernaryFormat
import TernaryKernels
import TernaryModels
import TernaryTokenizer

/// Packed files with the exact shapes of real architectures and random weights, for benchmarks
/// and tests (no multi-GB checkpoint needed). Ternary codes are uniform random bits with the
/// unused code 3 folded onto 0, so about half the weights are 0 and a quarter each ±1.
public enum Synthesizer {
    public struct Preset: Sendable {
        public let name: String
        public let architecture: String
        public let layers: Int, width: Int, heads: Int, context: Int, vocabulary: Int
    }

    public static let presets: [Preset] = [
        Preset(name: "tiny", architecture: "gpt2", layers: 2, width: 64, heads: 4, context: 1024, vocabulary: 50257),
        Preset(name: "gpt2", architecture: "gpt2", layers: 12, width: 768, heads: 12, context: 1024, vocabulary: 50257),
        Preset(name: "gpt2-medium", architecture: "gpt2", layers: 24, width: 1024, heads: 16, context: 1024, vocabulary: 50257),
        Preset(name: "gpt2-large", architecture: "gpt2", layers: 36, width: 1280, heads: 20, context: 1024, vocabulary: 50257),
        Preset(name: "gpt2-xl", architecture: "gpt2", layers: 48, width: 1600, heads: 25, context: 1024, vocabulary: 50257),
    ]

    public static func preset(named name: String) throws -> Preset {
        guard let p = presets.first(where: { $0.name == name }) else {
            throw ConvertError.badOption(option: "--preset", value: name, expected: presets.map(\.name).joined(separator: ", ")
                + " (bitnet-large and bitnet-2b4t arrive with the Llama-style BitNet architecture)")
        }
        return p
    }

    /// Writes a random model of `preset`'s shapes to `output`.
    public static func write(
        preset: Preset, embeddings: EmbeddingStorage, seed: UInt64, output: String, tokenizer: BPETokenizer? = nil,
        progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws {
        let config = GPT2Config(vocabularySize: preset.vocabulary, contextLength: preset.context, width: preset.width,
                                heads: preset.heads, layers: preset.layers)
        var random = SplitMix64(seed: seed)
        var builder = PackedModelBuilder(architecture: preset.architecture, config: config.json,
                                         quantization: QuantizationInfo(embeddings: embeddings), tokenizer: tokenizer)
        let d = preset.width, inner = config.innerWidth
        let steps = preset.layers + 1
        progress(0, steps, "embeddings")
        let table = (0..<(preset.vocabulary * d)).map { _ in random.normal() * 0.02 }
        builder.addEmbedding("wte", table, vocabulary: preset.vocabulary, width: d)
        builder.addFloatTable("wpe.weight", (0..<(preset.context * d)).map { _ in random.normal() * 0.01 }, shape: [preset.context, d])
        progress(1, steps, "embeddings")
        for layer in 0..<preset.layers {
            let p = "h.\(layer)"
            for norm in ["ln_1", "ln_2"] {
                builder.addFloats("\(p).\(norm).weight", [Float](repeating: 1, count: d), shape: [d])
                builder.addFloats("\(p).\(norm).bias", [Float](repeating: 0, count: d), shape: [d])
            }
            for (name, rows, k) in [("attn.c_attn", 3 * d, d), ("attn.c_proj", d, d), ("mlp.c_fc", inner, d), ("mlp.c_proj", d, inner)] {
                builder.addPackedTernary("\(p).\(name)", packed: randomTernary(rows: rows, k: k, random: &random), beta: 0.02, rows: rows, k: k)
                builder.addFloats("\(p).\(name).bias", [Float](repeating: 0, count: rows), shape: [rows])
            }
            progress(layer + 2, steps, "layer \(layer)")
        }
        builder.addFloats("ln_f.weight", [Float](repeating: 1, count: d), shape: [d])
        builder.addFloats("ln_f.bias", [Float](repeating: 0, count: d), shape: [d])
        builder.metadata["synthetic"] = preset.name
        try builder.write(to: output)
    }

    static func randomTernary(rows: Int, k: Int, random: inout SplitMix64) -> [UInt8] {
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
            var row = [Int8](repeating: 0, count: k)
            for r in 0..<rows {
                let values = bytes[(r * rowBytes)..<((r + 1) * rowBytes)].withUnsafeBytes { TernaryLayout.unpackRow($0, count: k) }
                row = values
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
