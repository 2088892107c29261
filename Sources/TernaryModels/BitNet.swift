import TernaryFormat
import TernaryKernels
import TernaryTokenizer

/// BitNet b1.58 as Hugging Face's `BitNetForCausalLM` (microsoft/bitnet-b1.58-2B-4T): the Llama
/// shape with an RMSNorm "sub-norm" on the inputs of o_proj (`attn_sub_norm`) and down_proj
/// (`ffn_sub_norm`), and squared ReLU (`relu2`) unless the config names another `hidden_act`.
enum BitNet {
    static let architecture = Architecture(
        name: "bitnet", modelTypes: ["bitnet"], checkpointPrefixes: ["model.", ""], ignoredCheckpointSuffixes: [".rotary_emb.inv_freq"],
        tiedHead: ("lm_head.weight", "embed_tokens.weight"),
        decodeConfig: { try LlamaConfig.decode($0, defaultActivation: "relu2").json },
        manifest: { config, quantization in
            // The sub-norms already normalize o_proj's and down_proj's inputs; a second, per-linear
            // norm on top (transformers' use_rms_norm) is a combination this engine does not chain.
            guard !quantization.rmsNormBeforeQuant else {
                throw JSONValueDecoder.Failure(path: "quantization_config.use_rms_norm", reason: "a per-linear RMSNorm on top of BitNet's sub-norms is not supported")
            }
            return Llama.manifest(try LlamaConfig.decode(config, defaultActivation: "relu2"), quantization: quantization, subNorms: true)
        },
        load: { file, tokenizer, kernels in try Llama.load(file: file, tokenizer: tokenizer, kernels: kernels, subNorms: true) })
}
