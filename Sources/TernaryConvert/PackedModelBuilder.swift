import TernaryFormat
import TernaryKernels
import TernaryTokenizer

/// Collects the tensors and metadata of a packed file (shared by the packer and `synth`), storing
/// each matrix in the format asked for.
public struct PackedModelBuilder {
    public private(set) var tensors: [OutputTensor] = []
    /// Each matrix's format, written as the `matrix_formats` metadata.
    public private(set) var matrixFormats: [String: WeightFormat] = [:]
    public var metadata: [String: String]
    public let quantization: QuantizationInfo

    public init(architecture: String, config: JSONValue, quantization: QuantizationInfo, tokenizer: TokenizerSpec?) {
        self.quantization = quantization
        metadata = [
            "format": PackedModelFile.formatName,
            "format_version": PackedModelFile.formatVersion,
            "architecture": architecture,
            "config": config.serialized(),
            "quantization": quantization.json.serialized(),
        ]
        if let tokenizer { metadata.merge(tokenizer.metadata) { $1 } }
    }

    public mutating func add(_ tensor: OutputTensor) { tensors.append(tensor) }

    /// An F32 tensor; non-finite values are refused (they would poison every output).
    public mutating func addFloats(_ name: String, _ values: [Float], shape: [Int]) throws {
        try Self.checkFinite(values, name)
        add(OutputTensor(name: name, dtype: .f32, shape: shape, values: values))
    }

    /// A float table that stays float (position embeddings): F32 when embeddings are F32, else F16.
    public mutating func addFloatTable(_ name: String, _ values: [Float], shape: [Int]) throws {
        try Self.checkFinite(values, name)
        if quantization.embeddings == .f32 {
            add(OutputTensor(name: name, dtype: .f32, shape: shape, values: values))
        } else {
            add(OutputTensor(name: name, dtype: .f16, shape: shape, values: HalfPrecision.float16(values)))
        }
    }

    /// Matrix `name` (rows, k) from `source`, stored as `format` (docs/FORMAT.md): float values are
    /// quantized as the format defines; ternary values keep their codes and scale when stored ternary.
    public mutating func addMatrix(_ name: String, _ source: SourceMatrix, rows: Int, k: Int, format: WeightFormat) throws {
        matrixFormats[name] = format
        switch (source, format) {
        case let (.packedTernary(bytes, beta), .ternary):
            addTernary(name, packed: bytes, beta: beta, rows: rows, k: k, format: .ternary)
        case let (.packedTernary(bytes, beta), .base3):
            addTernary(name, packed: WeightQuantizer.pack(WeightQuantizer.unpack(bytes, rows: rows, k: k), rows: rows, k: k, format: .base3),
                       beta: beta, rows: rows, k: k, format: .base3)
        case let (.ternary(codes, scale), .ternary), let (.ternary(codes, scale), .base3):
            guard scale.isFinite, scale > 0 else { throw ConvertError.nonFinite(tensor: "\(name) (its scale \(scale))") }
            addTernary(name, packed: WeightQuantizer.pack(codes, rows: rows, k: k, format: format), beta: scale, rows: rows, k: k, format: format)
        case (.float(let values), _):
            try Self.checkFinite(values, name)
            try addFloatMatrix(name, values, rows: rows, k: k, format: format)
        case let (.ternary(codes, scale), _):
            try addFloatMatrix(name, codes.map { Float($0) * scale }, rows: rows, k: k, format: format)
        case let (.packedTernary(bytes, beta), _):
            try addFloatMatrix(name, WeightQuantizer.unpack(bytes, rows: rows, k: k).map { Float($0) * beta }, rows: rows, k: k, format: format)
        }
    }

    private mutating func addTernary(_ name: String, packed: [UInt8], beta: Float, rows: Int, k: Int, format: WeightFormat) {
        add(OutputTensor(name: "\(name).weight", dtype: format.dtype, shape: format.weightShape(rows: rows, k: k), bytes: packed))
        add(OutputTensor(name: "\(name).weight_scale", dtype: .f32, shape: [1], values: [beta]))
    }

    private mutating func addFloatMatrix(_ name: String, _ w: [Float], rows: Int, k: Int, format: WeightFormat) throws {
        let shape = format.weightShape(rows: rows, k: k)
        switch format {
        case .ternary, .base3:
            let (codes, beta) = WeightQuantizer.ternaryCodes(w, rows: rows, k: k)
            addTernary(name, packed: WeightQuantizer.pack(codes, rows: rows, k: k, format: format), beta: beta, rows: rows, k: k, format: format)
        case .int8:
            let (values, scales) = WeightQuantizer.int8Rows(w, rows: rows, k: k)
            add(OutputTensor(name: "\(name).weight", dtype: .i8, shape: shape, values: values))
            add(OutputTensor(name: "\(name).scale", dtype: .f32, shape: [rows], values: scales))
        case .f32: add(OutputTensor(name: "\(name).weight", dtype: .f32, shape: shape, values: w))
        case .f16: add(OutputTensor(name: "\(name).weight", dtype: .f16, shape: shape, values: HalfPrecision.float16(w)))
        case .bf16: add(OutputTensor(name: "\(name).weight", dtype: .bf16, shape: shape, values: w.map(WeightQuantizer.bfloat16)))
        case .q4, .q6:
            let layout: GroupedLayout = format == .q4 ? .q4 : .q6
            guard let (bytes, scales) = WeightQuantizer.groupedRows(w, rows: rows, k: k, layout: layout) else {
                throw ConvertError.nonFinite(tensor: "\(name) (a group's scale, its largest weight / \(layout.offset), overflows f16)")
            }
            add(OutputTensor(name: "\(name).weight", dtype: .u8, shape: shape, bytes: bytes))
            add(OutputTensor(name: "\(name).group_scale", dtype: .f16, shape: [rows, GroupedLayout.groups(k)], values: scales))
        }
    }

    static func checkFinite(_ values: [Float], _ name: String) throws {
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw ConvertError.nonFinite(tensor: "\(name) (element \(bad) is \(values[bad]))")
        }
    }

    public func write(to path: String) throws {
        var metadata = metadata
        metadata[PackedModelFile.matrixFormatsKey] = PackedModelFile.formatsJSON(matrixFormats).serialized()
        try SafetensorsWriter.write(to: path, metadata: metadata, tensors: tensors)
    }
}
