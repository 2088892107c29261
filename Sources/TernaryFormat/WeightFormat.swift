/// How one matrix `(rows, k)` is stored in a packed file (docs/FORMAT.md, "Matrix formats"). Each
/// matrix names its format by the dtype of its `<name>.weight` tensor, so every tensor can have its
/// own (a float model, a ternary body with an int8 head, …) and a reader needs no other key.
public enum WeightFormat: String, CaseIterable, Sendable {
    /// 2-bit codes, 64 weights per 16-byte block: `<name>.weight` U32 `[rows, Kp/16]` and
    /// `<name>.weight_scale` F32 `[1]` (β); w = (code − 1) · β.
    case ternary
    /// Base 3, five weights per byte, 320 weights per 64-byte block: `<name>.weight` U8
    /// `[rows, Kp/5]` (Kp a multiple of 320) and `<name>.weight_scale` F32 `[1]` (β).
    case base3 = "t1.6"
    /// Signed bytes with a scale per row: `<name>.weight` I8 `[rows, Kp]` and `<name>.scale` F32 `[rows]`.
    case int8
    case f32, f16, bf16

    /// The dtype of `<name>.weight`, which identifies the format.
    public var dtype: DType {
        switch self {
        case .ternary: .u32
        case .base3: .u8
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
    public var quantizesActivations: Bool { self == .ternary || self == .base3 || self == .int8 }

    /// Ternary codes with one scale β per matrix (the 2-bit and the base-3 layouts).
    public var isTernary: Bool { self == .ternary || self == .base3 }

    /// Weights per row as stored: padded to whole blocks for the integer formats (64 weights; 320
    /// for `t1.6`). The int8 activations a matmul reads are padded likewise.
    public func storedRowLength(_ k: Int) -> Int {
        let block = self == .base3 ? 320 : Self.blockWeights
        return quantizesActivations ? (k + block - 1) / block * block : k
    }

    /// The shape of `<name>.weight` for a `(rows, k)` matrix.
    public func weightShape(rows: Int, k: Int) -> [Int] {
        switch self {
        case .ternary: [rows, storedRowLength(k) / 16]
        case .base3: [rows, storedRowLength(k) / 5]
        default: [rows, storedRowLength(k)]
        }
    }

    /// Bytes of one stored row.
    public func rowBytes(_ k: Int) -> Int {
        switch self {
        case .ternary: storedRowLength(k) / 4
        case .base3: storedRowLength(k) / 5
        case .int8: storedRowLength(k)
        case .f32: 4 * k
        case .f16, .bf16: 2 * k
        }
    }

    /// The tensors beside `<name>.weight`: its scale(s).
    public func companionNames(_ name: String) -> [String] {
        switch self {
        case .ternary, .base3: ["\(name).weight_scale"]
        case .int8: ["\(name).scale"]
        case .f32, .f16, .bf16: []
        }
    }

    /// Weights per block of the integer formats (rows are padded to a multiple).
    public static let blockWeights = 64
}
