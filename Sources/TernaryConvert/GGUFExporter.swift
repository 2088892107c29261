import TernaryFormat
import TernaryKernels
import TernaryModels
import TernaryTokenizer

/// A packed file → a GGUF file llama.cpp loads: GPT-2 as `gpt2`, a Llama as `llama` (query and key
/// rows permuted to llama.cpp's interleaved RoPE), a BitNet with SiLU as llama.cpp's `bitnet`, one
/// with squared ReLU as bitnet.cpp's `bitnet-b1.58`. Ternary matrices become TQ2_0 or TQ1_0 with
/// their codes kept and the scale in every block; like llama-quantize, a matrix whose rows are not
/// whole 256-weight blocks falls back, here to Q8_0 holding the same codes (−1/0/+1 times the scale)
/// or to F16. Other matrices are written F16, vectors F32.
public enum GGUFExporter {
    public struct Report: Sendable {
        public let architecture: String
        public let tensors: Int
        /// Matrix → the type it was written in instead of the ternary type asked for, and why.
        public let fallbacks: [(tensor: String, type: String)]
        public let bytes: Int
    }

    public static func export(packed path: String, output: String, ternary: GGUFTensorType, withTokenizer: Bool = true) throws -> Report {
        precondition(ternary == .tq1_0 || ternary == .tq2_0)
        let file = try PackedModelFile(path: path)
        guard let architecture = ModelRegistry.architecture(named: file.architecture) else {
            throw ModelError.unknownArchitecture(path: path, found: file.architecture, known: ModelRegistry.architectures.map(\.name))
        }
        func refuse(_ reason: String) -> ConvertError { .badConfig(path: path, reason: "cannot export to GGUF: \(reason)") }
        if file.quantization.rmsNormBeforeQuant {
            throw refuse("its linear layers normalize their inputs (ternary_qat rms_norm), which no llama.cpp architecture does")
        }
        let c = file.config
        func int(_ key: String) throws -> Int {
            guard let v = c[key]?.integer else { throw refuse("config has no integer '\(key)'") }
            return v
        }
        guard ["gpt2", "llama", "bitnet"].contains(architecture.name) else {
            throw refuse("GGUF export covers gpt2, llama and bitnet models, not \(architecture.name)")
        }
        let gpt2 = architecture.name == "gpt2"
        let ggufArchitecture: String
        var metadata: [(String, GGUFWriter.Entry)] = []
        var permuteHeads: (q: Int, kv: Int)?
        if gpt2 {
            ggufArchitecture = "gpt2"
            guard c["activation_function"]?.string == "gelu_new" || c["activation_function"]?.string == "gelu_pytorch_tanh" else {
                throw refuse("llama.cpp's gpt2 uses the tanh GELU; this model's activation_function is \(c["activation_function"]?.string ?? "?")")
            }
            metadata = [("gpt2.context_length", .uint32(UInt32(try int("n_positions")))), ("gpt2.embedding_length", .uint32(UInt32(try int("n_embd")))),
                        ("gpt2.feed_forward_length", .uint32(UInt32(try int("n_inner")))), ("gpt2.block_count", .uint32(UInt32(try int("n_layer")))),
                        ("gpt2.attention.head_count", .uint32(UInt32(try int("n_head")))),
                        ("gpt2.attention.layer_norm_epsilon", .float32(Float(c["layer_norm_epsilon"]?.number ?? 1e-5)))]
        } else {
            let config = try JSONValueDecoder.decode(LlamaConfig.self, from: c)
            let tied = config.tiedEmbeddings
            switch (architecture.name, config.activation) {
            case ("llama", "silu"), ("llama", "swish"):
                ggufArchitecture = "llama"
                if config.ropeStyle == "neox" {
                    guard config.rotaryDimensions == config.headSize else { throw refuse("a partial rotary embedding in Hugging Face's order has no llama.cpp layout") }
                    permuteHeads = (config.heads, config.kvHeads)
                }
            case ("bitnet", "silu"):
                ggufArchitecture = "bitnet"
                guard tied, config.heads * config.headSize == config.width else {
                    throw refuse("llama.cpp's bitnet ties the head to the embeddings and needs heads × head_dim = hidden_size")
                }
            case ("bitnet", "relu2"): ggufArchitecture = "bitnet-b1.58"
            default: throw refuse("no llama.cpp architecture runs a \(architecture.name) with hidden_act \(config.activation)")
            }
            if architecture.name == "bitnet" && config.ropeStyle != "neox" { throw refuse("llama.cpp's bitnet rotates in Hugging Face's (neox) order") }
            if config.attentionBias != config.mlpBias, config.mlpBias { throw refuse("llama.cpp has no FFN biases") }
            let a = ggufArchitecture
            metadata = [("\(a).context_length", .uint32(UInt32(config.contextLength))), ("\(a).embedding_length", .uint32(UInt32(config.width))),
                        ("\(a).feed_forward_length", .uint32(UInt32(config.ffnWidth))), ("\(a).block_count", .uint32(UInt32(config.layers))),
                        ("\(a).attention.head_count", .uint32(UInt32(config.heads))), ("\(a).attention.head_count_kv", .uint32(UInt32(config.kvHeads))),
                        ("\(a).attention.key_length", .uint32(UInt32(config.headSize))), ("\(a).attention.value_length", .uint32(UInt32(config.headSize))),
                        ("\(a).attention.layer_norm_rms_epsilon", .float32(Float(config.rmsNormEpsilon))),
                        ("\(a).rope.freq_base", .float32(Float(config.ropeTheta))), ("\(a).rope.dimension_count", .uint32(UInt32(config.rotaryDimensions))),
                        ("\(a).vocab_size", .uint32(UInt32(config.vocabularySize)))]
            if let scaling = config.ropeScaling, !scaling.isNull {
                guard (scaling["rope_type"]?.string ?? scaling["type"]?.string) == "linear", let factor = scaling["factor"]?.number else {
                    throw refuse("rope_scaling other than linear is not exported")
                }
                metadata += [("\(a).rope.scaling.type", .string("linear")), ("\(a).rope.scaling.factor", .float32(Float(factor)))]
            }
        }
        metadata = [("general.architecture", .string(ggufArchitecture)), ("general.name", .string(baseName(path))),
                    ("general.file_type", .uint32(ternary == .tq1_0 ? 36 : 37)), ("general.quantization_version", .uint32(2))] + metadata
        if withTokenizer, let spec = try file.tokenizerSpec() {
            do { metadata += try spec.ggufMetadata() } catch let error as TokenizerError {
                throw refuse("its tokenizer: \(error.reason) (pass --no-tokenizer to export the weights alone)")
            }
        }

        var tensors: [GGUFWriter.Tensor] = []
        var fallbacks: [(String, String)] = []
        for spec in try architecture.manifest(file.config, file.quantization) {
            guard let name = GGUFCheckpoint.ggufName(spec.source, gpt2: gpt2) else { throw refuse("no llama.cpp name for \(spec.source)") }
            switch spec.kind {
            case let .linear(rows, k), let .embedding(rows, k):
                let permuted = permuteHeads != nil && (name.hasSuffix("attn_q.weight") || name.hasSuffix("attn_k.weight"))
                if !permuted, let (type, bytes) = try groupedBlocks(file, spec.name, rows: rows, k: k) {
                    tensors.append(.init(name: name, dimensions: [k, rows], type: type, bytes: bytes))
                    continue
                }
                var matrix = try read(file, spec.name, rows: rows, k: k)
                if let heads = permuteHeads, name.hasSuffix("attn_q.weight") || name.hasSuffix("attn_k.weight") {
                    matrix = permuteRows(matrix, rows: rows, k: k, heads: name.hasSuffix("attn_q.weight") ? heads.q : heads.kv)
                }
                switch matrix {
                case let .ternary(codes, scale) where k % 256 == 0:
                    tensors.append(.init(name: name, dimensions: [k, rows], type: ternary, bytes: GGUFTensorType.encode(codes: codes, rows: rows, k: k, scale: scale, as: ternary)))
                case let .ternary(codes, scale) where k % 32 == 0:
                    fallbacks.append((name, "Q8_0"))
                    tensors.append(.init(name: name, dimensions: [k, rows], type: .q8_0, bytes: q8_0(codes: codes, scale: scale)))
                case let .ternary(codes, scale):
                    fallbacks.append((name, "F16"))
                    tensors.append(.init(name: name, dimensions: [k, rows], type: .f16, bytes: f16(codes.map { Float($0) * scale })))
                case let .float(values):
                    tensors.append(.init(name: name, dimensions: [k, rows], type: .f16, bytes: f16(values)))
                case .packedTernary: fatalError("read() returns codes")
                }
            case let .vector(n):
                tensors.append(.init(name: name, dimensions: [n], type: .f32, bytes: f32(try floats(file, spec.name))))
            case let .table(rows, columns):
                tensors.append(.init(name: name, dimensions: [columns, rows], type: .f32, bytes: f32(try floats(file, spec.name))))
            }
        }
        try GGUFWriter.write(to: output, metadata: metadata, tensors: tensors)
        return Report(architecture: ggufArchitecture, tensors: tensors.count, fallbacks: fallbacks, bytes: Packer.fileSize(output))
    }

    /// A matrix of the packed file: ternary codes and scale, or float values (int8 rows times their scales).
    static func read(_ file: PackedModelFile, _ name: String, rows: Int, k: Int) throws -> SourceMatrix {
        let weight = try file.file.tensor("\(name).weight")
        let format = try file.format(ofMatrix: name, weightDType: weight.dtype)
        switch format {
        case .ternary, .base3:
            let scale = try floats(file, "\(name).weight_scale")[0]
            let rowBytes = format.rowBytes(k)
            var codes = [Int8](repeating: 0, count: rows * k)
            for r in 0..<rows {
                let row = UnsafeRawBufferPointer(rebasing: weight.data[(r * rowBytes)..<((r + 1) * rowBytes)])
                for i in 0..<k { codes[r * k + i] = format == .base3 ? Base3Layout.weight(at: i, of: row) : TernaryLayout.weight(at: i, of: row) }
            }
            return .ternary(codes: codes, scale: scale)
        case .int8:
            let scales = try floats(file, "\(name).scale")
            let stored = format.storedRowLength(k)
            var values = [Float](repeating: 0, count: rows * k)
            for r in 0..<rows { for i in 0..<k { values[r * k + i] = Float(Int8(bitPattern: weight.data[r * stored + i])) * scales[r] } }
            return .float(values)
        case .f32, .f16, .bf16:
            return .float(try HFCheckpoint.floats(weight, source: file.path))
        case .q4, .q6:
            let layout: GroupedLayout = format == .q4 ? .q4 : .q6
            let scales = try floats(file, "\(name).group_scale"), groups = GroupedLayout.groups(k), rowBytes = format.rowBytes(k)
            var values = [Float](repeating: 0, count: rows * k)
            for r in 0..<rows {
                let row = UnsafeRawBufferPointer(rebasing: weight.data[(r * rowBytes)..<((r + 1) * rowBytes)])
                for i in 0..<k { values[r * k + i] = scales[r * groups + i / GroupedLayout.groupWeights] * Float(layout.code(at: i, of: row) - layout.offset) }
            }
            return .float(values)
        }
    }

    /// A grouped matrix as ggml blocks holding exactly its values, when rows are whole 32-weight
    /// blocks: `q4` is Q4_0 (each group's scale and 16 code bytes), `q6` is Q8_0 (q − 32 fits a
    /// byte). Importing either gives back the same codes and scales. Nil for other formats.
    static func groupedBlocks(_ file: PackedModelFile, _ name: String, rows: Int, k: Int) throws -> (GGUFTensorType, [UInt8])? {
        let weight = try file.file.tensor("\(name).weight")
        let format = try file.format(ofMatrix: name, weightDType: weight.dtype)
        guard format.isGrouped, k % GroupedLayout.groupWeights == 0 else { return nil }
        let layout: GroupedLayout = format == .q4 ? .q4 : .q6
        let scales = try file.file.tensor("\(name).group_scale").data, groups = GroupedLayout.groups(k), rowBytes = layout.rowBytes(k)
        var out = [UInt8]()
        out.reserveCapacity(rows * (k / 32) * (layout == .q4 ? 18 : 34))
        for r in 0..<rows {
            let row = UnsafeRawBufferPointer(rebasing: weight.data[(r * rowBytes)..<((r + 1) * rowBytes)])
            for g in 0..<(k / GroupedLayout.groupWeights) {
                out += [scales[2 * (r * groups + g)], scales[2 * (r * groups + g) + 1]]
                if layout == .q4 {
                    let start = 32 * (g / 2) + 16 * (g % 2)
                    out += row[start..<(start + 16)]
                } else {
                    for i in (32 * g)..<(32 * g + 32) { out.append(UInt8(bitPattern: Int8(layout.code(at: i, of: row) - layout.offset))) }
                }
            }
        }
        return (layout == .q4 ? .q4_0 : .q8_0, out)
    }

    static func floats(_ file: PackedModelFile, _ name: String) throws -> [Float] {
        try HFCheckpoint.floats(try file.file.tensor(name), source: file.path)
    }

    /// Hugging Face's query/key row order (rotate_half pairs dimension i with i + d/2 within a head)
    /// → llama.cpp's, which pairs neighbours: row (h, i, s) of the result is row (h, s, i) before.
    static func permuteRows(_ matrix: SourceMatrix, rows: Int, k: Int, heads: Int) -> SourceMatrix {
        let half = rows / heads / 2
        func source(_ r: Int) -> Int {
            let h = r / (2 * half), i = (r % (2 * half)) / 2, s = r % 2
            return h * 2 * half + s * half + i
        }
        func permuted<T>(_ values: [T]) -> [T] {
            var out = values
            for r in 0..<rows { out.replaceSubrange((r * k)..<((r + 1) * k), with: values[(source(r) * k)..<((source(r) + 1) * k)]) }
            return out
        }
        switch matrix {
        case let .ternary(codes, scale): return .ternary(codes: permuted(codes), scale: scale)
        case let .float(values): return .float(permuted(values))
        case .packedTernary: return matrix
        }
    }

    /// Codes −1/0/+1 as Q8_0 blocks of 32 whose d is the scale (as float16): exactly the ternary
    /// matrix llama.cpp would get from TQ2_0.
    static func q8_0(codes: [Int8], scale: Float) -> [UInt8] {
        let d = Float16(scale).bitPattern
        var out = [UInt8]()
        out.reserveCapacity(codes.count / 32 * 34)
        for b in 0..<(codes.count / 32) {
            out += [UInt8(d & 0xFF), UInt8(d >> 8)]
            for j in 0..<32 { out.append(UInt8(bitPattern: codes[b * 32 + j])) }
        }
        return out
    }

    /// Little-endian, as every supported host.
    static func f16(_ values: [Float]) -> [UInt8] {
        HalfPrecision.float16(values).withUnsafeBytes { Array($0) }
    }

    static func f32(_ values: [Float]) -> [UInt8] {
        values.withUnsafeBytes { Array($0) }  // little-endian, as every supported host
    }

    static func baseName(_ path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return file.hasSuffix(".safetensors") ? String(file.dropLast(".safetensors".count)) : file
    }
}
