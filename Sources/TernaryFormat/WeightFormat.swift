/// How one matrix `(rows, k)` is stored in a packed file (docs/FORMAT.md, "Matrix formats"). Every
/// matrix can have its own (a float model, a ternary body with a 4-bit head, …); the file names each
/// matrix's format in its `matrix_formats` metadata. Files written before that key existed name it
/// by the dtype of `<name>.weight`, which identifies every format but the grouped ones.
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
    /// Groups of 32 weights with an f16 scale each, 4-bit codes (ggml's Q4_0 split in two tensors):
    /// `<name>.weight` U8 `[rows, Kp/2]` and `<name>.group_scale` F16 `[rows, Kp/32]`; w = d · (q − 8).
    case q4
    /// As `q4` with 6-bit codes: `<name>.weight` U8 `[rows, 3·Kp/4]`; w = d · (q − 32).
    case q6

    /// The dtype of `<name>.weight`, which identifies the format.
    public var dtype: DType {
        switch self {
        case .ternary: .u32
        case .base3: .u8
        case .int8: .i8
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q4, .q6: .u8
        }
    }

    /// The format a file without `matrix_formats` means by this dtype of `<name>.weight`.
    public init?(dtype: DType) {
        guard let format = Self.allCases.first(where: { $0.dtype == dtype && !$0.isGrouped }) else { return nil }
        self = format
    }

    /// Formats whose matmuls take int8 activations (quantized per token); the others are float.
    public var quantizesActivations: Bool { self == .ternary || self == .base3 || self == .int8 || isGrouped }

    /// Groups of 32 weights with a scale each (`q4`, `q6`).
    public var isGrouped: Bool { self == .q4 || self == .q6 }

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
        case .q4, .q6: [rows, rowBytes(k)]
        default: [rows, storedRowLength(k)]
        }
    }

    /// Bytes of one stored row.
    public func rowBytes(_ k: Int) -> Int {
        switch self {
        case .ternary: storedRowLength(k) / 4
        case .base3: storedRowLength(k) / 5
        case .int8: storedRowLength(k)
        case .q4: storedRowLength(k) / 2
        case .q6: storedRowLength(k) * 3 / 4
        case .f32: 4 * k
        case .f16, .bf16: 2 * k
        }
    }

    /// The tensors beside `<name>.weight`: its scale(s).
    public func companionNames(_ name: String) -> [String] {
        switch self {
        case .ternary, .base3: ["\(name).weight_scale"]
        case .int8: ["\(name).scale"]
        case .q4, .q6: ["\(name).group_scale"]
        case .f32, .f16, .bf16: []
        }
    }

    /// Weights per block of the integer formats (rows are padded to a multiple).
    public static let blockWeights = 64
}
