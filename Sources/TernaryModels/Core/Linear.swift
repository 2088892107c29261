import CTernaryKernels
import TernaryFormat
import TernaryKernels

/// What a linear layer does with each output y_r = W_r·x + b_r, in the same parallel pass that
/// computes it (so there is no extra serial pass over the outputs).
enum LinearEpilogue {
    /// out = y
    case store
    /// out += y (a residual connection)
    case addToOutput
    /// out = f(y), applied to each thread's run of outputs
    case activation(VectorOps.Activation)
    /// A group of two equal-height members (gate, up): out = f(gate) · up (Llama's gated FFN)
    case gated(VectorOps.Activation)
}

/// One linear layer at inference, y = W·x + b, over a matrix of any format. For the integer formats
/// x is quantized per token (docs/FORMAT.md): y = (W_q · x_q) · β / s + b with an integer-only
/// weight loop. `inputNorm` is an RMSNorm of x before the product (the BitLinear pre-norm of our
/// trainer and of 1bitLLM's checkpoints, and BitNet b1.58's attention/FFN sub-norms).
struct Linear {
    let matrix: WeightMatrix
    let bias: UnsafePointer<Float>?       // (rows)
    let inputNorm: UnsafePointer<Float>?  // (k)
    let inputNormEpsilon: Float
    /// The integer kernels of the matrix's layout on the group's path, chosen when the group is
    /// built (nil for float matrices).
    var matmul: IntegerMatmul? = nil
    /// The matmul of a grouped matrix (q4, q6), chosen likewise.
    var grouped: GroupedMatmul? = nil
}

/// Linear layers that read the same input (q, k and v; gate and up): one parallel pass covers every
/// member's rows, and the input is normalized and quantized once per token for all members that
/// share an input norm (once per distinct norm when members have their own, as the BitLinear
/// pre-norm gives them). Member outputs lie side by side in each output row, member i from column
/// `offsets[i]`.
///
/// Immutable once built (weights are shared by every context); the members live in buffers the
/// parallel tasks read through plain pointers, without reference counting.
final class LinearGroup: @unchecked Sendable {
    let members: UnsafeMutableBufferPointer<Linear>
    let offsets: UnsafeMutableBufferPointer<Int>
    /// The input variant (distinct input norm) of each member.
    private let variantOf: UnsafeMutableBufferPointer<Int>
    /// The input norm of each variant (nil: the input as it is).
    private let variantNorms: [(weight: UnsafePointer<Float>?, epsilon: Float)]
    /// Σ rows: the width of an output row.
    let width: Int
    let k: Int
    let kernels: TernaryKernels
    private let storedK: Int
    private let quantizes: Bool
    private let hasFloatMembers: Bool

    /// Members must share `k`.
    init(_ linears: [Linear], kernels: TernaryKernels) {
        precondition(!linears.isEmpty, "a group needs a member")
        let k = linears[0].matrix.k
        precondition(linears.allSatisfy { $0.matrix.k == k }, "group members must share k")
        members = .allocate(capacity: linears.count)
        _ = members.initialize(from: linears.map { linear in
            var linear = linear
            linear.matmul = linear.matrix.integerLayout.map { kernels.matmul(for: $0) }
            linear.grouped = linear.matrix.groupedLayout.map { kernels.groupedMatmul(for: $0) }
            return linear
        })
        offsets = .allocate(capacity: linears.count)
        variantOf = .allocate(capacity: linears.count)
        var norms: [(weight: UnsafePointer<Float>?, epsilon: Float)] = []
        var offset = 0
        for (i, linear) in linears.enumerated() {
            offsets[i] = offset
            offset += linear.matrix.rows
            if let v = norms.firstIndex(where: { $0.weight == linear.inputNorm }) {
                variantOf[i] = v
            } else {
                variantOf[i] = norms.count
                norms.append((linear.inputNorm, linear.inputNormEpsilon))
            }
        }
        variantNorms = norms
        width = offset
        self.k = k
        self.kernels = kernels
        // Activations padded for the member whose format pads rows the most (t1.6: 320 weights).
        storedK = linears.map { $0.matrix.format.quantizesActivations ? $0.matrix.storedK : 0 }.max() ?? k
        quantizes = linears.contains { $0.matrix.format.quantizesActivations }
        hasFloatMembers = linears.contains { !$0.matrix.format.quantizesActivations }
    }

    deinit {
        members.deallocate()
        offsets.deallocate()
        variantOf.deallocate()
    }

    var weightBytes: Int { members.reduce(0) { $0 + $1.matrix.bytes } }
    /// Multiply-adds per token of all members.
    var multiplyAdds: Int { members.reduce(0) { $0 + $1.matrix.rows * $1.matrix.k } }
    var regions: [UnsafeRawBufferPointer] { members.map(\.matrix.region) }

    /// y(tokens, stride) ← the members' outputs for x(tokens, k); `stride` ≥ the output width.
    func callAsFunction(
        _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, stride: Int,
        context: InferenceContext, epilogue: LinearEpilogue = .store
    ) {
        let ws = context.workspace
        let kernels = kernels, k = k, storedK = storedK, quantizes = quantizes, norms = variantNorms
        let variants = norms.count, normalized = norms.contains { $0.weight != nil }
        // The integer formats read int8 rows (stride storedK), one block of `tokens` rows per input
        // variant; float members read float rows, normalized into their own buffer when their
        // variant has a norm.
        let quantized = ws.typed(.quantized, Int8.self, quantizes ? variants * tokens * storedK : 1)
        let scales = ws.floats(.activationScales, variants * tokens), sums = ws.typed(.activationSums, Int32.self, variants * tokens)
        let normedInput: UnsafeMutablePointer<Float>? = hasFloatMembers && normalized ? ws.floats(.normedInput, variants * tokens * k) : nil
        let normRows = normalized && normedInput == nil ? ws.floats(.normRows, context.pool.threads * k) : nil
        if quantizes || normalized {
            // One fused pass per token; a prefill spreads its tokens over the threads.
            context.pool.runIndexed(tokens, grain: 1) { range, worker in
                for t in range {
                    for v in 0..<variants {
                        var source = x + t * k
                        if let weight = norms[v].weight {
                            let buffer = normedInput.map { $0 + (v * tokens + t) * k } ?? normRows! + worker * k
                            VectorOps.rmsNorm(source, buffer, k, weight: weight, eps: norms[v].epsilon)
                            source = UnsafePointer(buffer)
                        }
                        if quantizes {
                            let (s, sum) = kernels.quantize(source, count: k, into: quantized + (v * tokens + t) * storedK, padded: storedK)
                            scales[v * tokens + t] = s
                            sums[v * tokens + t] = sum
                        }
                    }
                }
            }
        }
        var run = MemberProducts(
            kernels: kernels, members: UnsafePointer(members.baseAddress!), offsets: UnsafePointer(offsets.baseAddress!),
            variantOf: UnsafePointer(variantOf.baseAddress!), count: members.count, tokens: tokens, storedK: storedK, k: k,
            quantized: quantized, sums: sums, scales: scales, raw: x, normedInput: normedInput.map { UnsafePointer($0) },
            accumulators: nil, accumulatorStride: 0)
        // Runs of rows end on multiples of 8, or of 32 in a prefill, whose GEMM takes rows 32 at a
        // time (CTernaryKernels/panel512.h). Decode steps, bound by reading the weights, start each
        // thread on its own run, which `announce` can name in advance.
        let grain = tokens > 16 ? 32 : 8, owned = tokens <= Self.streamingTokens
        switch epilogue {
        case .gated(let activation):
            precondition(members.count == 2 && members[0].matrix.rows == members[1].matrix.rows, "a gated epilogue needs (gate, up) of equal height")
            let rows = members[0].matrix.rows
            let pair = ws.floats(.ffnPair, tokens * 2 * rows)
            context.pool.run(rows, grain: grain, ownedFirst: owned, GatedRun(products: run, pair: pair, rows: rows, activation: activation, y: y, stride: stride))
        case .addToOutput:
            // The outputs already hold the residual: the sums need their own buffer.
            run.accumulators = ws.typed(.accumulators, Int32.self, tokens * width)
            run.accumulatorStride = width
            context.pool.run(width, grain: grain, ownedFirst: owned, GroupRun(products: run, y: y, stride: stride, accumulate: true, activation: nil))
        case .store:
            context.pool.run(width, grain: grain, ownedFirst: owned, GroupRun(products: run, y: y, stride: stride, accumulate: false, activation: nil))
        case .activation(let f):
            context.pool.run(width, grain: grain, ownedFirst: owned, GroupRun(products: run, y: y, stride: stride, accumulate: false, activation: f))
        }
    }
}

extension LinearGroup {
    /// The most bytes of weights each thread reads ahead for a coming group.
    static let prefetchBudget = 256 * 1024
    /// Up to this many tokens (decode steps, one or several sequences) a call makes one pass over
    /// the weights (the decode GEMV and GEMMs): its threads start on owned runs, and the model
    /// announces it.
    static let streamingTokens = 16

    /// Before a call on `tokens` tokens with `epilogue`: hints each thread at the weights of the
    /// rows it takes first (`WorkerPool.prefetchHints`), so they stream into its cache while it
    /// would otherwise wait (at the end of the previous linear, during attention, the norms).
    func announce(tokens: Int, epilogue: LinearEpilogue, context: InferenceContext) {
        let pool = context.pool
        guard pool.threads > 1 else { return }
        let grain = tokens > 16 ? 32 : 8  // as callAsFunction
        let budget = Self.prefetchBudget
        if case .gated = epilogue {
            let rows = members[0].matrix.rows
            pool.prefetchHints { thread, slot in
                let run = pool.firstRun(rows, grain: grain, thread: thread), matrix = members[slot].matrix
                return UnsafeRawBufferPointer(start: matrix.data + run.lowerBound * matrix.rowBytes,
                                              count: min(run.count * matrix.rowBytes, budget / 2))
            }
            return
        }
        pool.prefetchHints { thread, slot in
            // The run's pieces in the members it covers, the first two.
            let run = pool.firstRun(width, grain: grain, thread: thread)
            var left = budget, piece = 0
            for m in 0..<members.count {
                let matrix = members[m].matrix, start = offsets[m]
                let lower = max(run.lowerBound, start), upper = min(run.upperBound, start + matrix.rows)
                if lower >= upper { continue }
                let bytes = min((upper - lower) * matrix.rowBytes, left)
                if bytes <= 0 { return nil }
                if piece == slot { return UnsafeRawBufferPointer(start: matrix.data + (lower - start) * matrix.rowBytes, count: bytes) }
                left -= bytes
                piece += 1
            }
            return nil
        }
    }
}

/// Computes and dequantizes a run of one member's rows (shared by the plain and gated passes).
private struct MemberProducts {
    let kernels: TernaryKernels
    let members: UnsafePointer<Linear>
    let offsets: UnsafePointer<Int>
    let variantOf: UnsafePointer<Int>
    let count: Int
    let tokens: Int
    let storedK: Int, k: Int
    let quantized: UnsafePointer<Int8>          // (variants, tokens, storedK)
    let sums: UnsafePointer<Int32>              // (variants, tokens)
    let scales: UnsafePointer<Float>            // (variants, tokens)
    let raw: UnsafePointer<Float>               // (tokens, k): the input as given
    let normedInput: UnsafePointer<Float>?      // (variants, tokens, k) when float members normalize
    /// Separate int32 sums (tokens, accumulatorStride) for outputs that add to what they hold; nil:
    /// the sums go into the outputs and each is replaced by its value.
    var accumulators: UnsafeMutablePointer<Int32>?
    var accumulatorStride: Int

    /// Where member `m`'s float products go: the separate accumulators (read as floats) when the
    /// outputs add to what they hold, else the outputs themselves (each replaced in place).
    @inline(__always)
    func floatDestination(_ m: Int, out: UnsafeMutablePointer<Float>, stride: Int) -> (UnsafeMutablePointer<Float>, Int) {
        guard let accumulators else { return (out, stride) }
        return (UnsafeMutableRawPointer(accumulators).assumingMemoryBound(to: Float.self) + offsets[m], accumulatorStride)
    }

    /// o[i] (=, or += when `accumulate`) d[i] · scale + bias[i].
    @inline(__always)
    static func finish(_ d: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, _ n: Int, scale: Float,
                       bias: UnsafePointer<Float>?, accumulate: Bool) {
        for i in 0..<n {
            var v = d[i] * scale
            if let bias { v += bias[i] }
            o[i] = accumulate ? o[i] + v : v
        }
    }

    /// out[t·stride + r] (=, or += when `accumulate`) y_r(x_t) for `rows` of member `m`; `out`
    /// points at the member's first column.
    @inline(__always)
    func compute(_ m: Int, rows: Range<Int>, out: UnsafeMutablePointer<Float>, stride: Int, accumulate: Bool,
                 activation: VectorOps.Activation?) {
        let linear = members[m]
        let matrix = linear.matrix
        let n = rows.count
        let bias = linear.bias.map { $0 + rows.lowerBound }
        let variant = variantOf[m]
        let scales = scales + variant * tokens
        if let grouped = linear.grouped {
            // Float sums Σ_g d_g · sum_g per token, then ÷ s (+ bias).
            let (dest, destStride) = floatDestination(m, out: out, stride: stride)
            let groups = matrix.groups
            for t in 0..<tokens {
                let d = dest + t * destStride + rows.lowerBound, o = out + t * stride + rows.lowerBound
                grouped.gemv(matrix.data + rows.lowerBound * matrix.rowBytes, matrix.rowBytes, n, matrix.groupScales! + rows.lowerBound * groups, groups,
                             quantized + (variant * tokens + t) * storedK, d)
                Self.finish(d, into: o, n, scale: 1 / scales[t], bias: bias, accumulate: accumulate)
                activation?.apply(o, n)
            }
        } else if matrix.format.quantizesActivations {
            let acc: UnsafeMutablePointer<Int32>, accStride: Int
            if let accumulators {
                acc = accumulators + offsets[m]
                accStride = accumulatorStride
            } else {
                // The kernels write int32 sums where the outputs go; each is turned into its float
                // output in place (prefill activations are the largest buffers after the KV cache).
                acc = UnsafeMutableRawPointer(out).assumingMemoryBound(to: Int32.self)
                accStride = stride
            }
            matrix.integerProducts(linear.matmul!, rows: rows, x: quantized + variant * tokens * storedK, xStride: storedK, xSums: sums + variant * tokens,
                                   tokens: tokens, out: acc + rows.lowerBound, outStride: accStride)
            for t in 0..<tokens {
                let sum = acc + t * accStride + rows.lowerBound, o = out + t * stride + rows.lowerBound
                if matrix.format.isTernary {
                    tk_dequantize(sum, matrix.beta / scales[t], bias, o, n, accumulate ? 1 : 0)
                } else {
                    let rowScales = matrix.rowScales! + rows.lowerBound, s = scales[t]
                    for i in 0..<n {
                        var v = Float(sum[i]) * rowScales[i] / s
                        if let bias { v += bias[i] }
                        o[i] = accumulate ? o[i] + v : v
                    }
                }
                activation?.apply(o, n)
            }
        } else {
            let (dest, destStride) = floatDestination(m, out: out, stride: stride)
            let input = linear.inputNorm == nil ? raw : normedInput! + variant * tokens * k
            matrix.floatProducts(kernels, rows: rows, x: input, tokens: tokens, out: dest + rows.lowerBound, outStride: destStride)
            for t in 0..<tokens {
                let d = dest + t * destStride + rows.lowerBound, o = out + t * stride + rows.lowerBound
                Self.finish(d, into: o, n, scale: 1, bias: bias, accumulate: accumulate)
                activation?.apply(o, n)
            }
        }
    }
}

/// One thread's run of a group's output columns, split at member boundaries.
private struct GroupRun: ParallelTask {
    let products: MemberProducts
    let y: UnsafeMutablePointer<Float>
    let stride: Int
    let accumulate: Bool
    let activation: VectorOps.Activation?

    func run(_ range: Range<Int>, worker: Int) {
        var r = range.lowerBound
        var m = 0
        while r < range.upperBound {
            while m + 1 < products.count, products.offsets[m + 1] <= r { m += 1 }
            let start = products.offsets[m]
            let end = min(range.upperBound, start + products.members[m].matrix.rows)
            products.compute(m, rows: (r - start)..<(end - start), out: y + start, stride: stride, accumulate: accumulate, activation: activation)
            r = end
        }
    }
}

/// One thread's rows of a gated FFN: the gate and up rows into the pair buffer, then f(gate) · up.
private struct GatedRun: ParallelTask {
    let products: MemberProducts
    let pair: UnsafeMutablePointer<Float>  // (tokens, 2 · rows): gate | up
    let rows: Int
    let activation: VectorOps.Activation
    let y: UnsafeMutablePointer<Float>
    let stride: Int

    func run(_ range: Range<Int>, worker: Int) {
        products.compute(0, rows: range, out: pair, stride: 2 * rows, accumulate: false, activation: nil)
        products.compute(1, rows: range, out: pair + rows, stride: 2 * rows, accumulate: false, activation: nil)
        for t in 0..<products.tokens {
            let gate = pair + t * 2 * rows + range.lowerBound
            activation.apply(gate, range.count)
            VectorOps.multiply(gate, gate + rows, into: y + t * stride + range.lowerBound, range.count)
        }
    }
}
