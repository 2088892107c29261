/// How one matrix `(rows, k)` is stored in a packed file (docs/FORMAT.md, "Matrix formats"). Each
/// matrix names its format by the dtype of its `<name>.weight` tensor, so every tensor can have its
/// own (a float model, a ternary body with an int8 head, …) and a reader needs no other key.
public enum WeightFormat: String, CaseIterable, Sendable {
    /// 2-bit codes, 64 weights per 16-byte block: `<name>.weight` U32 `[rows, Kp/16]` and
    /// `<name>.weight_scale` F32 `[1]` (β); w = (code − 1) · β.
    case ternary
    /// Signed bytes with a scale per row: `<name>.weight` I8 `[rows, Kp]` and `<name>.scale` F32 `[rows]`.
    case int8
    case f32, f16, bf16

    /// The dtype of `<name>.weight`, which identifies the format.
    public var dtype: DType {
        switch self {
        case .ternary: .u32
        case .int8: .i8
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }

    public init?(dtype: DType) {
        guard let format = Self.allCases.first(where: { $0.dtype == dtype }) else { return nil }
        self = format
    }

    /// Formats whose matmuls take int8 activations (quantized per token); the others are float.
    public var quantizesActivations: Bool { self == .ternary || self == .int8 }

    /// Weights per row as stored: padded to whole 64-weight blocks for the integer formats.
    public func storedRowLength(_ k: Int) -> Int {
        quantizesActivations ? (k + Self.blockWeights - 1) / Self.blockWeights * Self.blockWeights : k
    }

    /// The shape of `<name>.weight` for a `(rows, k)` matrix.
    public func weightShape(rows: Int, k: Int) -> [Int] {
        switch self {
        case .ternary: [rows, storedRowLength(k) / 16]
        default: [rows, storedRowLength(k)]
        }
    }

    /// Bytes of one stored row.
    public func rowBytes(_ k: Int) -> Int {
        switch self {
        case .ternary: storedRowLength(k) / 4
        case .int8: storedRowLength(k)
        case .f32: 4 * k
        case .f16, .bf16: 2 * k
        }
    }

    /// The tensors beside `<name>.weight`: its scale(s).
    public func companionNames(_ name: String) -> [String] {
        switch self {
        case .ternary: ["\(name).weight_scale"]
        case .int8: ["\(name).scale"]
        case .f32, .f16, .bf16: []
        }
    }

    /// Weights per block of the integer formats (rows are padded to a multiple).
    public static let blockWeights = 64
}
