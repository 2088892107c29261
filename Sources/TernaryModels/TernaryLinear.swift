import CTernaryKernels
import TernaryFormat
import TernaryKernels

/// Reusable buffers for one BitLinear call; grown, never shrunk, so decode allocates nothing.
final class LinearScratch {
    var quantized = UnsafeMutablePointer<Int8>.allocate(capacity: 1)   // (tokens, paddedK)
    var scales = UnsafeMutablePointer<Float>.allocate(capacity: 1)     // (tokens)
    var sums = UnsafeMutablePointer<Int32>.allocate(capacity: 1)       // (tokens)
    var accumulators = UnsafeMutablePointer<Int32>.allocate(capacity: 1) // (tokens, rows), for residual epilogues
    var normed = UnsafeMutablePointer<Float>.allocate(capacity: 1)     // (threads, paddedK) for the optional RMSNorm
    private var quantizedCapacity = 1, tokenCapacity = 1, accumulatorCapacity = 1, normedCapacity = 1

    /// `rows` is the output width of a call that needs separate accumulators (0 if it uses its output).
    func reserve(tokens: Int, paddedK: Int, rows: Int, threads: Int) {
        if tokens * paddedK > quantizedCapacity {
            quantized.deallocate(); quantizedCapacity = tokens * paddedK
            quantized = .allocate(capacity: quantizedCapacity)
        }
        if tokens > tokenCapacity {
            scales.deallocate(); sums.deallocate(); tokenCapacity = tokens
            scales = .allocate(capacity: tokens); sums = .allocate(capacity: tokens)
        }
        if tokens * rows > accumulatorCapacity {
            accumulators.deallocate(); accumulatorCapacity = tokens * rows
            accumulators = .allocate(capacity: accumulatorCapacity)
        }
        if threads * paddedK > normedCapacity {
            normed.deallocate(); normedCapacity = threads * paddedK
            normed = .allocate(capacity: normedCapacity)
        }
    }

    deinit {
        quantized.deallocate(); scales.deallocate(); sums.deallocate(); accumulators.deallocate(); normed.deallocate()
    }
}

/// What a linear layer does with each output y_r = (W_q · x_q)_r · β / s + bias_r, in the same
/// parallel pass that dequantizes it (so there is no extra serial pass over the outputs).
enum LinearEpilogue {
    /// out = y
    case store
    /// out += y (a residual connection)
    case addToOutput
    /// out = f(y), f applied in place to each thread's run of outputs (an elementwise activation)
    case activation(VectorOps.Activation)
}

/// A BitLinear layer at inference: y = (W_q · x_q) · β / s + bias, with W_q ternary (packed),
/// x_q the per-token int8 activations; the weight loop is integer-only.
struct TernaryLinear {
    let weights: UnsafeRawPointer  // (rows, rowBytes) packed codes
    let rows: Int
    let k: Int
    let paddedK: Int
    let rowBytes: Int
    let beta: Float
    let bias: UnsafePointer<Float>?        // (rows)
    let normWeight: UnsafePointer<Float>?  // (k), the optional RMSNorm before quantization
    let normEpsilon: Float

    var weightBytes: Int { rows * rowBytes }
    var region: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: weights, count: weightBytes) }

    /// Loads `<prefix>.weight` (U32, (rows, paddedK/16)), `<prefix>.weight_scale` (F32, (1)),
    /// `<prefix>.bias` (F32, (rows)) if `hasBias`, and `<prefix>.norm.weight` if the file says so.
    init(file: PackedModelFile, prefix: String, rows: Int, k: Int, hasBias: Bool, rmsNorm: Bool? = nil) throws {
        let padded = TernaryLayout.paddedLength(k)
        let w = try file.file.tensor("\(prefix).weight", dtypes: [.u32], shape: [rows, padded / TernaryLayout.weightsPerWord])
        let scale = try file.file.tensor("\(prefix).weight_scale", dtypes: [.f32], shape: [1])
        self.weights = w.data.baseAddress!
        self.rows = rows
        self.k = k
        self.paddedK = padded
        self.rowBytes = padded / 4
        self.beta = scale.data.loadUnaligned(as: Float.self)
        guard beta.isFinite, beta > 0 else {
            throw FormatError.badMetadata(path: file.path, key: "\(prefix).weight_scale", reason: "β must be a positive finite number, found \(beta)")
        }
        if hasBias {
            bias = try file.file.tensor("\(prefix).bias", dtypes: [.f32], shape: [rows]).data.baseAddress!.assumingMemoryBound(to: Float.self)
        } else {
            bias = nil
        }
        if rmsNorm ?? file.quantization.rmsNormBeforeQuant {
            normWeight = try file.file.tensor("\(prefix).norm.weight", dtypes: [.f32], shape: [k]).data.baseAddress!.assumingMemoryBound(to: Float.self)
        } else {
            normWeight = nil
        }
        normEpsilon = Float(file.quantization.rmsNormEpsilon)
    }

    /// y(tokens, rows) = BitLinear(x(tokens, k)).
    func callAsFunction(
        _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>,
        scratch: LinearScratch, context: InferenceContext, epilogue: LinearEpilogue = .store
    ) {
        // A residual epilogue adds to what `y` holds, so its int32 sums need their own buffer; the
        // others write each output over its own sum, so they accumulate in `y` itself (prefill
        // activations are the largest buffers after the KV cache).
        let inPlace: Bool
        if case .addToOutput = epilogue { inPlace = false } else { inPlace = true }
        scratch.reserve(tokens: tokens, paddedK: paddedK, rows: inPlace ? 0 : rows, threads: context.pool.threads)
        let kernels = context.kernels
        let k = k, paddedK = paddedK, normWeight = normWeight, normEpsilon = normEpsilon
        let quantized = scratch.quantized, scales = scratch.scales, sums = scratch.sums, normed = scratch.normed
        // One fused quantization pass per token; a prefill spreads its tokens over the threads.
        context.pool.runIndexed(tokens, grain: 1) { range, worker in
            for t in range {
                var source = x + t * k
                if let normWeight {
                    let buffer = normed + worker * paddedK
                    VectorOps.rmsNorm(source, buffer, k, weight: normWeight, eps: normEpsilon)
                    source = UnsafePointer(buffer)
                }
                let (s, sum) = kernels.quantize(source, count: k, into: quantized + t * paddedK, padded: paddedK)
                scales[t] = s
                sums[t] = sum
            }
        }
        let accumulate: Bool, activation: VectorOps.Activation?
        switch epilogue {
        case .store: (accumulate, activation) = (false, nil)
        case .addToOutput: (accumulate, activation) = (true, nil)
        case .activation(let f): (accumulate, activation) = (false, f)
        }
        context.pool.run(rows, grain: 8, LinearRun(
            kernels: kernels, weights: weights, rowBytes: rowBytes, rows: rows, paddedK: paddedK, tokens: tokens,
            x: quantized, xSums: sums, scales: scales, accumulators: inPlace ? nil : scratch.accumulators, beta: beta,
            bias: bias, y: y, accumulate: accumulate, activation: activation))
    }
}

/// One thread's rows of a BitLinear: the integer matmul, then dequantization with the epilogue.
private struct LinearRun: ParallelTask {
    let kernels: TernaryKernels
    let weights: UnsafeRawPointer
    let rowBytes: Int, rows: Int, paddedK: Int, tokens: Int
    let x: UnsafePointer<Int8>, xSums: UnsafePointer<Int32>, scales: UnsafePointer<Float>
    /// (tokens, rows) int32 sums; nil: the sums go into `y` and each is replaced by its output.
    let accumulators: UnsafeMutablePointer<Int32>?
    let beta: Float
    let bias: UnsafePointer<Float>?
    let y: UnsafeMutablePointer<Float>
    let accumulate: Bool
    let activation: VectorOps.Activation?

    func run(_ range: Range<Int>, worker: Int) {
        let w = weights + range.lowerBound * rowBytes
        if let accumulators {
            multiply(w, range, into: accumulators)
        } else {
            // The kernels write int32 sums where the outputs go; tk_dequantize (C) turns each into its
            // float output in place.
            y.withMemoryRebound(to: Int32.self, capacity: tokens * rows) { multiply(w, range, into: $0) }
        }
        let sums = accumulators ?? UnsafeMutableRawPointer(y).assumingMemoryBound(to: Int32.self)
        for t in 0..<tokens {
            let out = y + t * rows + range.lowerBound
            tk_dequantize(sums + t * rows + range.lowerBound, beta / scales[t], bias.map { $0 + range.lowerBound },
                          out, range.count, accumulate ? 1 : 0)
            activation?.apply(out, range.count)
        }
    }

    @inline(__always)
    private func multiply(_ w: UnsafeRawPointer, _ range: Range<Int>, into acc: UnsafeMutablePointer<Int32>) {
        if tokens == 1 {
            kernels.ternaryGEMV(weights: w, rowBytes: rowBytes, rows: range.count, x: x, xSum: xSums[0], out: acc + range.lowerBound)
        } else {
            kernels.ternaryGEMM(
                weights: w, rowBytes: rowBytes, rows: range.count, x: x, xStride: paddedK, xSums: xSums,
                tokens: tokens, out: acc + range.lowerBound, outStride: rows)
        }
    }
}
