import CTernaryKernels
import Foundation

/// The float parts of a Mamba-2 layer, one sequence at a time, token after token (the projections
/// around them are batched matmuls): the causal depthwise convolution over the recurrent window,
/// the time steps, the selective scan, and the gated RMSNorm. Each has a plain scalar version, the
/// oracle, and a SIMD one the model runs; tests check one against the other on awkward sizes.
enum SelectiveScan {
    struct Shape {
        let heads: Int, headSize: Int, stateSize: Int, groups: Int
        var headsPerGroup: Int { heads / groups }
        var inner: Int { heads * headSize }
    }

    /// out(t, c) = act(bias[c] + Σ_j weight[c, j] · window(t + j, c)) for the `tokens` rows of
    /// `input` (row stride `inputStride`), the window being the `state` rows (kernel − 1, oldest
    /// first) followed by the inputs; then `state` holds the last kernel − 1 rows. Channels
    /// `channels` only (the caller splits them over threads).
    static func convolve(input: UnsafePointer<Float>, inputStride: Int, tokens: Int, state: UnsafeMutablePointer<Float>,
                         width: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, kernel: Int,
                         out: UnsafeMutablePointer<Float>, outStride: Int, channels: Range<Int>, silu: Bool) {
        let back = kernel - 1
        for c in channels {
            let w = weight + c * kernel
            for t in 0..<tokens {
                var acc = bias?[c] ?? 0
                for j in 0..<kernel {
                    let source = t + j - back  // < 0: a remembered row
                    let v = source < 0 ? state[(back + source) * width + c] : input[source * inputStride + c]
                    acc += w[j] * v
                }
                out[t * outStride + c] = acc
            }
            // The window's last `back` rows become the state.
            for r in 0..<back {
                let source = tokens + r - back
                state[r * width + c] = source < 0 ? state[(back + source) * width + c] : input[source * inputStride + c]
            }
        }
        if silu, !channels.isEmpty {
            for t in 0..<tokens { tk_silu(out + t * outStride + channels.lowerBound, channels.count) }
        }
    }

    /// softplus with torch's threshold (x above 20 is returned as is), then clamped.
    @inline(__always)
    static func timeStep(_ raw: Float, bias: Float, min lo: Float, max hi: Float) -> Float {
        let x = raw + bias
        let s = x > 20 ? x : Foundation.log1p(Foundation.exp(x))
        return Swift.min(Swift.max(s, lo), hi)
    }

    /// One head over `tokens` tokens: h ← exp(dt·A)·h + dt·x⊗B, y = h·C + D·x. `x`, `y`: rows of
    /// the head's `headSize` values (strides `xStride`, `yStride`); `b`, `c`: rows of the group's
    /// `stateSize` values (stride `bcStride`); `dt`: one per token (stride `dtStride`); `d`: D of
    /// channel p at d[p · dStride] (stride 0: one per head); `state`: (headSize, stateSize). The
    /// plain reference.
    static func scanReference(state: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, xStride: Int, b: UnsafePointer<Float>,
                              c: UnsafePointer<Float>, bcStride: Int, dt: UnsafePointer<Float>, dtStride: Int, a: Float, d: UnsafePointer<Float>, dStride: Int,
                              y: UnsafeMutablePointer<Float>, yStride: Int, tokens: Int, headSize: Int, stateSize: Int) {
        for t in 0..<tokens {
            let step = dt[t * dtStride], decay = Foundation.exp(step * a)
            for p in 0..<headSize {
                let xp = x[t * xStride + p], row = state + p * stateSize
                var acc: Float = 0
                for n in 0..<stateSize {
                    row[n] = row[n] * decay + step * xp * b[t * bcStride + n]
                    acc += row[n] * c[t * bcStride + n]
                }
                y[t * yStride + p] = acc + d[p * dStride] * xp
            }
        }
    }

    /// `scanReference` with the state dimension in SIMD vectors of 8 (the remainder scalar).
    static func scan(state: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, xStride: Int, b: UnsafePointer<Float>,
                     c: UnsafePointer<Float>, bcStride: Int, dt: UnsafePointer<Float>, dtStride: Int, a: Float, d: UnsafePointer<Float>, dStride: Int,
                     y: UnsafeMutablePointer<Float>, yStride: Int, tokens: Int, headSize: Int, stateSize: Int) {
        let vectors = stateSize / 8, tail = vectors * 8
        let raw = UnsafeMutableRawPointer(state)
        for t in 0..<tokens {
            let step = dt[t * dtStride], decay = Foundation.exp(step * a)
            let bt = UnsafeRawPointer(b + t * bcStride), ct = UnsafeRawPointer(c + t * bcStride)
            let decayV = SIMD8<Float>(repeating: decay)
            for p in 0..<headSize {
                let xp = x[t * xStride + p], scaled = step * xp, scaledV = SIMD8<Float>(repeating: scaled)
                let rowOffset = p * stateSize * 4
                var accV = SIMD8<Float>()
                for v in 0..<vectors {
                    let offset = rowOffset + v * 32
                    var h = raw.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                    let bv = bt.loadUnaligned(fromByteOffset: v * 32, as: SIMD8<Float>.self)
                    let cv = ct.loadUnaligned(fromByteOffset: v * 32, as: SIMD8<Float>.self)
                    h = h * decayV + scaledV * bv
                    raw.storeBytes(of: h, toByteOffset: offset, as: SIMD8<Float>.self)
                    accV += h * cv
                }
                var acc = accV.sum()
                let row = state + p * stateSize
                for n in tail..<stateSize {
                    row[n] = row[n] * decay + scaled * b[t * bcStride + n]
                    acc += row[n] * c[t * bcStride + n]
                }
                y[t * yStride + p] = acc + d[p * dStride] * xp
            }
        }
    }

    /// out = y · silu(z) (BitMamba-2's output gate, no norm); z is overwritten by silu(z).
    static func gate(y: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>, count: Int, out: UnsafeMutablePointer<Float>) {
        tk_silu(z, count)
        for i in 0..<count { out[i] = y[i] * z[i] }
    }

    /// out = weight · rmsnorm_g(y · silu(z)) over groups of `groupSize` values of one row; z is
    /// overwritten by silu(z).
    static func gatedNorm(y: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>, groupSize: Int, groups: Int,
                          epsilon: Float, out: UnsafeMutablePointer<Float>) {
        tk_silu(z, groupSize * groups)
        for g in 0..<groups {
            let base = g * groupSize
            var sumSquares: Float = 0
            for i in base..<(base + groupSize) {
                let v = y[i] * z[i]
                out[i] = v
                sumSquares += v * v
            }
            let scale = 1 / (sumSquares / Float(groupSize) + epsilon).squareRoot()
            for i in base..<(base + groupSize) { out[i] = weight[i] * (out[i] * scale) }
        }
    }
}
