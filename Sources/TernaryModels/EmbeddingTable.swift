import TernaryFormat
import TernaryKernels

/// A token embedding table that is also the tied LM head, in any of the storage formats.
struct EmbeddingTable {
    enum Storage {
        case f32(UnsafePointer<Float>)
        case f16(UnsafePointer<Float16>)
        /// int8 rows padded to a multiple of 64, one float scale per row: w = q · scale.
        case int8(UnsafePointer<Int8>, scales: UnsafePointer<Float>, rowLength: Int)
        /// Ternary rows, one β for the table: w = (code − 1) · β.
        case ternary(TernaryLinear)
    }

    let storage: Storage
    let vocabulary: Int
    let width: Int

    /// Loads `<name>.weight` (and `<name>.scale` for int8) in the file's embedding format.
    init(file: PackedModelFile, name: String, vocabulary: Int, width: Int) throws {
        self.vocabulary = vocabulary
        self.width = width
        let f = file.file
        switch file.quantization.embeddings {
        case .f32:
            storage = .f32(try f.tensor("\(name).weight", dtypes: [.f32], shape: [vocabulary, width]).data.baseAddress!.assumingMemoryBound(to: Float.self))
        case .f16:
            storage = .f16(try f.tensor("\(name).weight", dtypes: [.f16], shape: [vocabulary, width]).data.baseAddress!.assumingMemoryBound(to: Float16.self))
        case .int8:
            let padded = TernaryLayout.paddedLength(width)
            let q = try f.tensor("\(name).weight", dtypes: [.i8], shape: [vocabulary, padded])
            let s = try f.tensor("\(name).scale", dtypes: [.f32], shape: [vocabulary])
            storage = .int8(q.data.baseAddress!.assumingMemoryBound(to: Int8.self), scales: s.data.baseAddress!.assumingMemoryBound(to: Float.self), rowLength: padded)
        case .ternary:
            storage = .ternary(try TernaryLinear(file: file, prefix: name, rows: vocabulary, k: width, hasBias: false, rmsNorm: false))
        }
    }

    /// The memory the LM head reads for every token (the int8 scales sit elsewhere and are small).
    var region: UnsafeRawBufferPointer {
        switch storage {
        case let .f32(p): UnsafeRawBufferPointer(start: p, count: vocabulary * width * 4)
        case let .f16(p): UnsafeRawBufferPointer(start: p, count: vocabulary * width * 2)
        case let .int8(p, _, rowLength): UnsafeRawBufferPointer(start: p, count: vocabulary * rowLength)
        case let .ternary(linear): linear.region
        }
    }

    var bytes: Int {
        switch storage {
        case .f32: vocabulary * width * 4
        case .f16: vocabulary * width * 2
        case let .int8(_, _, rowLength): vocabulary * (rowLength + 4)
        case let .ternary(linear): linear.weightBytes
        }
    }

    /// out(width) = embedding of `token`.
    func lookup(_ token: Int, into out: UnsafeMutablePointer<Float>) {
        switch storage {
        case let .f32(w): for i in 0..<width { out[i] = w[token * width + i] }
        case let .f16(w): for i in 0..<width { out[i] = Float(w[token * width + i]) }
        case let .int8(q, scales, rowLength):
            let s = scales[token]
            for i in 0..<width { out[i] = Float(q[token * rowLength + i]) * s }
        case let .ternary(linear):
            let row = UnsafeRawBufferPointer(start: linear.weights + token * linear.rowBytes, count: linear.rowBytes)
            for i in 0..<width { out[i] = Float(TernaryLayout.weight(at: i, of: row)) * linear.beta }
        }
    }

    /// logits(tokens, vocabulary) = x(tokens, width) · tableᵀ.
    func logits(
        _ x: UnsafePointer<Float>, tokens: Int, into out: UnsafeMutablePointer<Float>,
        scratch: LinearScratch, context: InferenceContext
    ) {
        let kernels = context.kernels
        switch storage {
        case .f32, .f16:
            for t in 0..<tokens {
                context.pool.run(vocabulary, grain: 16, FloatHeadRun(kernels: kernels, storage: storage, width: width, x: x + t * width, out: out + t * vocabulary))
            }
        case let .int8(q, scales, rowLength):
            scratch.reserve(tokens: 1, paddedK: rowLength, rows: vocabulary, threads: context.pool.threads)
            for t in 0..<tokens {
                let (s, sum) = kernels.quantize(x + t * width, count: width, into: scratch.quantized, padded: rowLength)
                context.pool.run(vocabulary, grain: 16, Int8HeadRun(
                    kernels: kernels, weights: q, scales: scales, rowLength: rowLength, x: scratch.quantized, xSum: sum,
                    xScale: s, accumulators: scratch.accumulators, out: out + t * vocabulary))
            }
        case let .ternary(linear):
            linear(x, tokens: tokens, into: out, scratch: scratch, context: context)
        }
    }
}

/// One thread's rows of an f32 or f16 LM head.
private struct FloatHeadRun: ParallelTask {
    let kernels: TernaryKernels
    let storage: EmbeddingTable.Storage
    let width: Int
    let x: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>

    func run(_ r: Range<Int>, worker: Int) {
        switch storage {
        case let .f32(w): kernels.f32GEMV(weights: w + r.lowerBound * width, k: width, rows: r.count, x: x, out: out + r.lowerBound)
        case let .f16(w): kernels.f16GEMV(weights: w + r.lowerBound * width, k: width, rows: r.count, x: x, out: out + r.lowerBound)
        case .int8, .ternary: preconditionFailure("FloatHeadRun runs float heads only")
        }
    }
}

/// One thread's rows of an int8 LM head: the integer GEMV, then the row and activation scales.
private struct Int8HeadRun: ParallelTask {
    let kernels: TernaryKernels
    let weights: UnsafePointer<Int8>, scales: UnsafePointer<Float>
    let rowLength: Int
    let x: UnsafePointer<Int8>
    let xSum: Int32, xScale: Float
    let accumulators: UnsafeMutablePointer<Int32>
    let out: UnsafeMutablePointer<Float>

    func run(_ r: Range<Int>, worker: Int) {
        kernels.int8GEMV(weights: weights + r.lowerBound * rowLength, rowLength: rowLength, rows: r.count, x: x, xSum: xSum,
                         out: accumulators + r.lowerBound)
        for i in r { out[i] = Float(accumulators[i]) * scales[i] / xScale }
    }
}
