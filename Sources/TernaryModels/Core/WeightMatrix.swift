import TernaryFormat
import TernaryKernels

/// A `(rows, k)` matrix mapped from a packed file, in any format of docs/FORMAT.md. Plain pointers
/// into the mapping, so it can be copied into parallel tasks without reference counting.
struct WeightMatrix {
    let format: WeightFormat
    let rows: Int
    let k: Int
    /// Stored weights per row (k padded to whole blocks for the integer formats).
    let storedK: Int
    let rowBytes: Int
    let data: UnsafeRawPointer            // (rows, rowBytes)
    /// β of a ternary matrix: w = (code − 1) · β.
    let beta: Float
    /// Per-row scales of an int8 matrix: w = q · scale[row].
    let rowScales: UnsafePointer<Float>?  // (rows)
    /// Per-group scales of a grouped matrix (q4, q6): (rows, groups).
    let groupScales: UnsafePointer<Float16>?
    var groups: Int { GroupedLayout.groups(k) }

    /// Loads `<name>.weight` (and its scale) in whatever format the file stored it, checking the
    /// shape against `(rows, k)`.
    init(file: PackedModelFile, name: String, rows: Int, k: Int) throws {
        let tensors = file.file
        guard let weight = tensors.tensors["\(name).weight"] else { throw FormatError.missingTensor(path: file.path, tensor: "\(name).weight") }
        let format = try file.format(ofMatrix: name, weightDType: weight.dtype)
        _ = try tensors.tensor("\(name).weight", shape: format.weightShape(rows: rows, k: k))
        self.format = format
        self.rows = rows
        self.k = k
        storedK = format.storedRowLength(k)
        rowBytes = format.rowBytes(k)
        data = weight.data.baseAddress!
        switch format {
        case .ternary, .base3:
            let scale = try tensors.tensor("\(name).weight_scale", dtypes: [.f32], shape: [1])
            beta = scale.data.loadUnaligned(as: Float.self)
            guard beta.isFinite, beta > 0 else {
                throw FormatError.badMetadata(path: file.path, key: "\(name).weight_scale", reason: "β must be a positive finite number, found \(beta)")
            }
            rowScales = nil
            groupScales = nil
        case .int8:
            let scales = try tensors.tensor("\(name).scale", dtypes: [.f32], shape: [rows])
            rowScales = scales.data.baseAddress!.assumingMemoryBound(to: Float.self)
            beta = 1
            groupScales = nil
        case .f32, .f16, .bf16:
            beta = 1
            rowScales = nil
            groupScales = nil
        case .q4, .q6:
            let scales = try tensors.tensor("\(name).group_scale", dtypes: [.f16], shape: [rows, GroupedLayout.groups(k)])
            groupScales = scales.data.baseAddress!.assumingMemoryBound(to: Float16.self)
            beta = 1
            rowScales = nil
        }
    }

    /// The grouped layout of a q4/q6 matrix.
    var groupedLayout: GroupedLayout? {
        switch format {
        case .q4: .q4
        case .q6: .q6
        default: nil
        }
    }

    /// The weights a matmul streams (the int8 row scales sit elsewhere and are small).
    var region: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: data, count: rows * rowBytes) }

    /// Bytes read per use, scales included.
    var bytes: Int { rows * rowBytes + (rowScales == nil ? 0 : 4 * rows) + (groupScales == nil ? 0 : 2 * rows * groups) }

    /// The names this matrix occupies in the file.
    static func tensorNames(_ name: String, format: WeightFormat) -> [String] { ["\(name).weight"] + format.companionNames(name) }

    /// out(k) = row `r`, dequantized (an embedding lookup).
    func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let row = data + r * rowBytes
        switch format {
        case .f32:
            let w = row.assumingMemoryBound(to: Float.self)
            for i in 0..<k { out[i] = w[i] }
        case .f16:
            let w = row.assumingMemoryBound(to: Float16.self)
            for i in 0..<k { out[i] = Float(w[i]) }
        case .bf16:
            let w = row.assumingMemoryBound(to: UInt16.self)
            for i in 0..<k { out[i] = Float(bitPattern: UInt32(w[i]) << 16) }
        case .int8:
            let w = row.assumingMemoryBound(to: Int8.self), s = rowScales![r]
            for i in 0..<k { out[i] = Float(w[i]) * s }
        case .ternary:
            let packed = UnsafeRawBufferPointer(start: row, count: rowBytes)
            for i in 0..<k { out[i] = Float(TernaryLayout.weight(at: i, of: packed)) * beta }
        case .base3:
            let packed = UnsafeRawBufferPointer(start: row, count: rowBytes)
            for i in 0..<k { out[i] = Float(Base3Layout.weight(at: i, of: packed)) * beta }
        case .q4, .q6:
            let layout = groupedLayout!, packed = UnsafeRawBufferPointer(start: row, count: rowBytes), scales = groupScales! + r * groups
            for i in 0..<k { out[i] = Float(scales[i / GroupedLayout.groupWeights]) * Float(layout.code(at: i, of: packed) - layout.offset) }
        }
    }

    /// The integer kernels' layout of this matrix's format (nil for the float formats).
    var integerLayout: IntegerLayout? {
        switch format {
        case .ternary: .ternary
        case .base3: .base3
        case .int8: .int8
        case .f32, .f16, .bf16, .q4, .q6: nil
        }
    }

    /// Integer sums `out[t·outStride + r] = Σ W[r]·x_t` for rows `range` and `tokens` int8
    /// activation rows of stride `xStride` (≥ `storedK`, zero past it), by `matmul`, the kernels of
    /// this matrix's layout chosen when the model was loaded.
    @inline(__always)
    func integerProducts(
        _ matmul: IntegerMatmul, rows range: Range<Int>, x: UnsafePointer<Int8>, xStride: Int, xSums: UnsafePointer<Int32>, tokens: Int,
        out: UnsafeMutablePointer<Int32>, outStride: Int
    ) {
        let w = data + range.lowerBound * rowBytes
        if tokens == 1 {
            matmul.gemv(w, rowBytes, range.count, x, xSums[0], out)
        } else {
            matmul.gemm(w, rowBytes, range.count, x, xStride, xSums, tokens, out, outStride)
        }
    }

    /// Float products `out[t·outStride + r] = Σ W[r]·x_t` for rows `range`, activations of stride k.
    @inline(__always)
    func floatProducts(
        _ kernels: TernaryKernels, rows range: Range<Int>, x: UnsafePointer<Float>, tokens: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int
    ) {
        let w = data + range.lowerBound * rowBytes
        for t in 0..<tokens {
            let xt = x + t * k, o = out + t * outStride
            switch format {
            case .f32: kernels.f32GEMV(weights: w.assumingMemoryBound(to: Float.self), k: k, rows: range.count, x: xt, out: o)
            case .f16: kernels.f16GEMV(weights: w.assumingMemoryBound(to: Float16.self), k: k, rows: range.count, x: xt, out: o)
            case .bf16: kernels.bf16GEMV(weights: w.assumingMemoryBound(to: UInt16.self), k: k, rows: range.count, x: xt, out: o)
            case .ternary, .base3, .int8, .q4, .q6: preconditionFailure("floatProducts on an integer matrix")
            }
        }
    }
}
