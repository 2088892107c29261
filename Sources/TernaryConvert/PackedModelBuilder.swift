import TernaryFormat
import TernaryKernels
import TernaryTokenizer

/// Collects the tensors and metadata of a packed file (shared by the packer and `synth`).
public struct PackedModelBuilder {
    public private(set) var tensors: [OutputTensor] = []
    public var metadata: [String: String]
    public let quantization: QuantizationInfo

    public init(architecture: String, config: JSONValue, quantization: QuantizationInfo, tokenizer: BPETokenizer?) {
        self.quantization = quantization
        metadata = [
            "format": PackedModelFile.formatName,
            "format_version": PackedModelFile.formatVersion,
            "architecture": architecture,
            "config": config.serialized(),
            "quantization": quantization.json.serialized(),
        ]
        if let tokenizer { metadata.merge(PackedModelFile.tokenizerMetadata(tokenizer)) { $1 } }
    }

    public mutating func add(_ tensor: OutputTensor) { tensors.append(tensor) }

    public mutating func addFloats(_ name: String, _ values: [Float], shape: [Int]) {
        add(OutputTensor(name: name, dtype: .f32, shape: shape, values: values))
    }

    public mutating func addHalfs(_ name: String, _ values: [Float], shape: [Int]) {
        add(OutputTensor(name: name, dtype: .f16, shape: shape, values: values.map { Float16($0) }))
    }

    /// A packed ternary matrix `(rows, k)` from already packed bytes and its β.
    public mutating func addPackedTernary(_ prefix: String, packed: [UInt8], beta: Float, rows: Int, k: Int) {
        add(OutputTensor(name: "\(prefix).weight", dtype: .u32, shape: [rows, TernaryLayout.paddedLength(k) / TernaryLayout.weightsPerWord], bytes: packed))
        addFloats("\(prefix).weight_scale", [beta], shape: [1])
    }

    /// A BitLinear from latent weights `(rows, k)` row-major, with optional bias and pre-norm weight.
    public mutating func addBitLinear(_ prefix: String, weight: [Float], rows: Int, k: Int, bias: [Float]?, normWeight: [Float]?) {
        let (packed, beta) = WeightQuantizer.ternary(weight, rows: rows, k: k)
        addPackedTernary(prefix, packed: packed, beta: beta, rows: rows, k: k)
        if let bias { addFloats("\(prefix).bias", bias, shape: [rows]) }
        if let normWeight { addFloats("\(prefix).norm.weight", normWeight, shape: [k]) }
    }

    /// A token embedding table `(vocabulary, width)` in the chosen storage.
    public mutating func addEmbedding(_ name: String, _ w: [Float], vocabulary: Int, width: Int) {
        switch quantization.embeddings {
        case .f32: addFloats("\(name).weight", w, shape: [vocabulary, width])
        case .f16: addHalfs("\(name).weight", w, shape: [vocabulary, width])
        case .int8:
            let (values, scales) = WeightQuantizer.int8Rows(w, rows: vocabulary, k: width)
            add(OutputTensor(name: "\(name).weight", dtype: .i8, shape: [vocabulary, TernaryLayout.paddedLength(width)], values: values))
            addFloats("\(name).scale", scales, shape: [vocabulary])
        case .ternary:
            let (packed, beta) = WeightQuantizer.ternary(w, rows: vocabulary, k: width)
            addPackedTernary(name, packed: packed, beta: beta, rows: vocabulary, k: width)
        }
    }

    /// A float table that stays float: f32 when embeddings are f32, else f16.
    public mutating func addFloatTable(_ name: String, _ w: [Float], shape: [Int]) {
        if quantization.embeddings == .f32 { addFloats(name, w, shape: shape) } else { addHalfs(name, w, shape: shape) }
    }

    public func write(to path: String) throws {
        try SafetensorsWriter.write(to: path, metadata: metadata, tensors: tensors)
    }
}
