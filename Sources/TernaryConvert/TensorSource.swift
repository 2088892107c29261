import TernaryFormat

/// A matrix as a source holds it, before it is stored in a packed format.
public enum SourceMatrix {
    /// Float values, row-major (rows, k): quantized at pack time if the format is an integer one.
    case float([Float])
    /// Exact ternary values −1/0/+1 (rows, k) and the scale they multiply (a checkpoint already in
    /// ternary form, such as Hugging Face BitNet's packed deployment form): kept as they are.
    case ternary(codes: [Int8], scale: Float)
    /// Rows already in this engine's 2-bit layout, with their β (random weights for `synth`).
    case packedTernary(bytes: [UInt8], beta: Float)
}

/// Where `ternary pack` and `ternary synth` read tensors, by the names of an architecture's manifest
/// (`TensorSpec.source`): a Hugging Face checkpoint, a llama2.c file, or random weights.
public protocol TensorSource: AnyObject {
    /// Names this source holds (to find tensors nothing used).
    var tensorNames: [String] { get }
    func contains(_ name: String) -> Bool
    /// The matrix `(rows, k)`; `transposed`: the source stores it as (k, rows).
    func matrix(_ name: String, rows: Int, k: Int, transposed: Bool) throws -> SourceMatrix
    /// A float tensor of `shape` (a vector or a table), as Float32.
    func floats(_ name: String, shape: [Int]) throws -> [Float]
    /// What nothing has read so far (after a pack: tensors the architecture does not know).
    func unusedTensorNames() -> [String]
}
