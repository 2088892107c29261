import TernaryFormat
import TernaryKernels

/// One tensor an architecture needs, named as in the packed file, with its shape from the config
/// and where it comes from in a Hugging Face checkpoint. An architecture's manifest (the list of
/// these for a config) is the one description that the loader, `ternary pack`, `ternary synth` and
/// the Python exporter (`ternary_qat.manifest`, checked against this by a test) all work from.
public struct TensorSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A linear layer's matrix (rows = outputs), stored in the pack's linear-layer format.
        case linear(rows: Int, k: Int)
        /// Token embeddings or an LM head (rows = vocabulary), stored in the pack's embedding format.
        case embedding(rows: Int, k: Int)
        /// An F32 vector: a norm's weight or bias, a linear layer's bias.
        case vector(Int)
        /// A float table that stays float (learned position embeddings): F32 if the embeddings are
        /// F32, else F16.
        case table(rows: Int, columns: Int)
    }

    /// Matrices: the prefix of `<name>.weight` and its scales; other kinds: the tensor's name.
    public let name: String
    public let kind: Kind
    /// The tensor's name in a Hugging Face checkpoint, without the model's prefix (`transformer.`,
    /// `model.`); for matrices the name of its weight.
    public let source: String
    /// The checkpoint stores the matrix as (k, rows) (GPT-2's Conv1D).
    public let transposed: Bool

    public init(_ name: String, _ kind: Kind, source: String, transposed: Bool = false) {
        self.name = name
        self.kind = kind
        self.source = source
        self.transposed = transposed
    }

    /// The matrix shape `(rows, k)` of a linear or embedding spec.
    public var matrixShape: (rows: Int, k: Int)? {
        switch kind {
        case let .linear(rows, k), let .embedding(rows, k): (rows, k)
        case .vector, .table: nil
        }
    }
}

/// The tensors of a packed file, handed out by the names of an architecture's manifest. It checks
/// the whole file against the manifest first: every tensor present with the dtype and shape the
/// config implies, and no tensor the architecture does not use.
struct WeightLoader {
    let file: PackedModelFile
    let kernels: TernaryKernels
    private var matrices: [String: WeightMatrix] = [:]
    private var specs: [String: TensorSpec] = [:]

    init(file: PackedModelFile, manifest: [TensorSpec], kernels: TernaryKernels) throws {
        self.file = file
        self.kernels = kernels
        var expected = Set<String>()
        for spec in manifest {
            specs[spec.name] = spec
            switch spec.kind {
            case let .linear(rows, k), let .embedding(rows, k):
                let matrix = try WeightMatrix(file: file, name: spec.name, rows: rows, k: k)
                matrices[spec.name] = matrix
                let names = WeightMatrix.tensorNames(spec.name, format: matrix.format)
                for name in names { try Self.checkValues(file, name) }
                try Self.checkValues(file, matrix: matrix, name: spec.name)
                expected.formUnion(names)
            case let .vector(n):
                _ = try file.file.tensor(spec.name, dtypes: [.f32], shape: [n])
                try Self.checkValues(file, spec.name)
                expected.insert(spec.name)
            case let .table(rows, columns):
                _ = try file.file.tensor(spec.name, dtypes: [.f32, .f16], shape: [rows, columns])
                try Self.checkValues(file, spec.name)
                expected.insert(spec.name)
            }
        }
        if let formats = file.matrixFormats, let stray = formats.keys.sorted().first(where: { matrices[$0] == nil }) {
            throw FormatError.badMetadata(path: file.path, key: PackedModelFile.matrixFormatsKey,
                                          reason: "names a format for '\(stray)', which is no matrix of architecture '\(file.architecture)' with this config; the file is for another model or was edited")
        }
        if let stray = file.file.tensorNames.first(where: { !expected.contains($0) }) {
            throw FormatError.badTensorEntry(
                path: file.path, tensor: stray,
                reason: "architecture '\(file.architecture)' has no such tensor with this config; the file is for another model or was edited")
        }
    }

    /// Every float value of a tensor is finite.
    static func checkValues(_ file: PackedModelFile, _ name: String) throws {
        guard let view = file.file.tensors[name] else { return }
        if let i = TensorValues.firstNonFinite(view) {
            throw FormatError.corruptValues(path: file.path, tensor: name, reason: "element \(i) is NaN or infinite")
        }
    }

    /// Codes and values a matrix's format allows: no ternary code 3, padding code 1 (weight 0),
    /// int8 weights in −127…127, zero padding and positive scales.
    static func checkValues(_ file: PackedModelFile, matrix: WeightMatrix, name: String) throws {
        func bad(_ reason: String) -> FormatError { .corruptValues(path: file.path, tensor: "\(name).weight", reason: reason) }
        let data = UnsafeRawBufferPointer(start: matrix.data, count: matrix.rows * matrix.rowBytes)
        switch matrix.format {
        case .ternary:
            if let at = TensorValues.firstInvalidTernaryByte(data) { throw bad("byte \(at) holds the code 3, which is no ternary value") }
            let padding = matrix.storedK - matrix.k
            if padding > 0 {
                for r in 0..<matrix.rows {
                    let row = UnsafeRawBufferPointer(rebasing: data[(r * matrix.rowBytes)..<((r + 1) * matrix.rowBytes)])
                    for position in matrix.k..<matrix.storedK where TernaryLayout.weight(at: position, of: row) != 0 {
                        throw bad("row \(r) has a nonzero weight in its padding (position \(position) of \(matrix.k))")
                    }
                }
            }
        case .base3:
            if let at = data.firstIndex(where: { $0 > Base3Layout.maxByte }) {
                throw bad("byte \(at) is \(data[at]); t1.6 bytes hold five base-3 digits, at most \(Base3Layout.maxByte)")
            }
            if matrix.storedK > matrix.k {
                for r in 0..<matrix.rows {
                    let row = UnsafeRawBufferPointer(rebasing: data[(r * matrix.rowBytes)..<((r + 1) * matrix.rowBytes)])
                    for position in matrix.k..<matrix.storedK where Base3Layout.weight(at: position, of: row) != 0 {
                        throw bad("row \(r) has a nonzero weight in its padding (position \(position) of \(matrix.k))")
                    }
                }
            }
        case .int8:
            if let at = TensorValues.firstInt8Minimum(data) { throw bad("byte \(at) is −128; int8 weights are −127…127") }
            if matrix.storedK > matrix.k {
                for r in 0..<matrix.rows {
                    let start = r * matrix.rowBytes
                    if let at = data[(start + matrix.k)..<(start + matrix.storedK)].firstIndex(where: { $0 != 0 }) {
                        throw bad("row \(r) has a nonzero weight in its padding (position \(at - start) of \(matrix.k))")
                    }
                }
            }
            if let scales = matrix.rowScales, let r = (0..<matrix.rows).first(where: { !(scales[$0] > 0) || !scales[$0].isFinite }) {
                throw FormatError.corruptValues(path: file.path, tensor: "\(name).scale", reason: "row \(r)'s scale \(scales[r]) is not a positive number")
            }
        case .q4, .q6:
            // Every code is a value; padding must be weight 0 (the scales were checked finite).
            let layout = matrix.groupedLayout!
            if matrix.storedK > matrix.k {
                for r in 0..<matrix.rows {
                    let row = UnsafeRawBufferPointer(rebasing: data[(r * matrix.rowBytes)..<((r + 1) * matrix.rowBytes)])
                    for position in matrix.k..<matrix.storedK where layout.code(at: position, of: row) != layout.offset {
                        throw bad("row \(r) has a nonzero weight in its padding (position \(position) of \(matrix.k))")
                    }
                }
            }
        case .f32, .f16, .bf16:
            break
        }
    }

    func matrix(_ name: String) -> WeightMatrix {
        guard let matrix = matrices[name] else { preconditionFailure("'\(name)' is not a matrix of the manifest") }
        return matrix
    }

    func vector(_ name: String) -> UnsafePointer<Float> {
        precondition(specs[name] != nil, "'\(name)' is not in the manifest")
        return file.file.tensors[name]!.data.baseAddress!.assumingMemoryBound(to: Float.self)
    }

    func optionalVector(_ name: String) -> UnsafePointer<Float>? { specs[name] == nil ? nil : vector(name) }

    /// A float table (F32 or F16).
    func table(_ name: String) -> FloatTable {
        precondition(specs[name] != nil, "'\(name)' is not in the manifest")
        let view = file.file.tensors[name]!
        return FloatTable(data: view.data.baseAddress!, columns: view.shape[1], isHalf: view.dtype == .f16)
    }

    /// A linear layer `<prefix>` with its bias and input norm when the manifest lists them.
    func linear(_ prefix: String, norm: String? = nil, epsilon: Double? = nil) -> Linear {
        let normName = norm ?? "\(prefix).norm.weight"
        return Linear(
            matrix: matrix(prefix), bias: optionalVector("\(prefix).bias"), inputNorm: optionalVector(normName),
            inputNormEpsilon: Float(epsilon ?? file.quantization.rmsNormEpsilon))
    }
}

/// A float table read row by row (learned position embeddings).
struct FloatTable {
    let data: UnsafeRawPointer
    let columns: Int
    let isHalf: Bool

    /// out[i] = table[row][i].
    func copy(row: Int, to out: UnsafeMutablePointer<Float>) {
        for i in 0..<columns { out[i] = 0 }
        add(row: row, to: out)
    }

    /// x[i] += table[row][i].
    @inline(__always)
    func add(row: Int, to x: UnsafeMutablePointer<Float>) {
        if isHalf {
            let p = data.assumingMemoryBound(to: Float16.self) + row * columns
            for i in 0..<columns { x[i] += Float(p[i]) }
        } else {
            let p = data.assumingMemoryBound(to: Float.self) + row * columns
            for i in 0..<columns { x[i] += p[i] }
        }
    }
}
