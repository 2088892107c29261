#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TernaryFormat
import TernaryModels
import TernaryTokenizer

/// Packs a Hugging Face GPT-2 (`GPT2LMHeadModel`, or a trainer export of one) into the ternary format.
enum GPT2Packer {
    /// Tensors HF stores that carry no weights (causal-mask buffers).
    static let ignoredSuffixes = [".attn.bias", ".attn.masked_bias"]

    static func config(from checkpoint: HFCheckpoint) throws -> GPT2Config {
        let width = try checkpoint.int("n_embd")
        var activation = "gelu_new"
        if let raw = checkpoint.config["activation_function"] {
            guard let name = raw as? String else { throw ConvertError.badConfig(path: checkpoint.configPath, reason: "activation_function must be a string") }
            activation = name
        }
        let config = GPT2Config(
            vocabularySize: try checkpoint.int("vocab_size"), contextLength: try checkpoint.int("n_positions"),
            width: width, heads: try checkpoint.int("n_head"), layers: try checkpoint.int("n_layer"),
            innerWidth: try checkpoint.int("n_inner", default: 4 * width),
            layerNormEpsilon: try checkpoint.double("layer_norm_epsilon", default: 1e-5), activation: activation)
        do { try config.validate(source: checkpoint.configPath) } catch let error as ModelError {
            throw ConvertError.badConfig(path: checkpoint.configPath, reason: error.description)
        }
        if (checkpoint.config["scale_attn_by_inverse_layer_idx"] as? Bool) == true {
            throw ConvertError.badConfig(path: checkpoint.configPath, reason: "scale_attn_by_inverse_layer_idx=true is not supported")
        }
        return config
    }

    static func pack(
        _ checkpoint: HFCheckpoint, quantization: QuantizationInfo, tokenizer: BPETokenizer?,
        progress: (Int, Int, String) -> Void
    ) throws -> PackedModelBuilder {
        let config = try config(from: checkpoint)
        let d = config.width, inner = config.innerWidth
        let prefix = checkpoint.tensorNames.contains("transformer.wte.weight") ? "transformer." : ""
        var used = Set<String>()
        func floats(_ name: String, _ shape: [Int]) throws -> [Float] {
            used.insert(prefix + name)
            return try checkpoint.floats(prefix + name, shape: shape)
        }
        var builder = PackedModelBuilder(architecture: "gpt2", config: config.json, quantization: quantization, tokenizer: tokenizer)
        let steps = config.layers + 2
        progress(0, steps, "embeddings")
        let wte = try floats("wte.weight", [config.vocabularySize, d])
        builder.addEmbedding("wte", wte, vocabulary: config.vocabularySize, width: d)
        builder.addFloatTable("wpe.weight", try floats("wpe.weight", [config.contextLength, d]), shape: [config.contextLength, d])
        progress(1, steps, "embeddings")
        for layer in 0..<config.layers {
            let p = "h.\(layer)"
            for norm in ["ln_1", "ln_2"] {
                builder.addFloats("\(p).\(norm).weight", try floats("\(p).\(norm).weight", [d]), shape: [d])
                builder.addFloats("\(p).\(norm).bias", try floats("\(p).\(norm).bias", [d]), shape: [d])
            }
            // Conv1D weights are (in, out); BitLinear rows are outputs.
            for (name, k, n) in [("attn.c_attn", d, 3 * d), ("attn.c_proj", d, d), ("mlp.c_fc", d, inner), ("mlp.c_proj", inner, d)] {
                let latent = try floats("\(p).\(name).weight", [k, n])
                let norm = quantization.rmsNormBeforeQuant ? try floats("\(p).\(name).norm.weight", [k]) : nil
                builder.addBitLinear(
                    "\(p).\(name)", weight: WeightQuantizer.transpose(latent, rows: k, cols: n), rows: n, k: k,
                    bias: try floats("\(p).\(name).bias", [n]), normWeight: norm)
            }
            progress(layer + 2, steps, "layer \(layer)")
        }
        builder.addFloats("ln_f.weight", try floats("ln_f.weight", [d]), shape: [d])
        builder.addFloats("ln_f.bias", try floats("ln_f.bias", [d]), shape: [d])
        if checkpoint.tensorNames.contains("lm_head.weight") {
            used.insert("lm_head.weight")
            let head = try checkpoint.floats("lm_head.weight", shape: [config.vocabularySize, d])
            if head != wte { throw ConvertError.untiedHead(directory: checkpoint.directory) }
        }
        let unused = checkpoint.tensorNames.filter { name in !used.contains(name) && !ignoredSuffixes.contains { name.hasSuffix($0) } }
        if !unused.isEmpty { throw ConvertError.unusedTensors(directory: checkpoint.directory, names: unused) }
        progress(steps, steps, "done")
        return builder
    }
}
