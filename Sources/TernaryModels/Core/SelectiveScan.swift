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

    /// out(t, c) = act(bias[c] + Σ_j weight[j, c] · window(t + j, c)) for the `tokens` rows of
    /// `input` (row stride `inputStride`), the window being the `state` rows (kernel − 1, oldest
    /// first) followed by the inputs; then `state` holds the last kernel − 1 rows. `weight` is
    /// tap-major, (kernel, width), so that neighbouring channels are neighbours in memory.
    /// Channels `channels` only (the caller splits them over threads). The plain reference.
    static func convolveReference(input: UnsafePointer<Float>, inputStride: Int, tokens: Int, state: UnsafeMutablePointer<Float>,
                                  width: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, kernel: Int,
                                  out: UnsafeMutablePointer<Float>, outStride: Int, channels: Range<Int>, silu: Bool) {
        let back = kernel - 1
        for c in channels {
            for t in 0..<tokens {
                var acc = bias?[c] ?? 0
                for j in 0..<kernel {
                    let source = t + j - back  // < 0: a remembered row
                    let v = source < 0 ? state[(back + source) * width + c] : input[source * inputStride + c]
                    acc += weight[j * width + c] * v
                }
                out[t * outStride + c] = acc
            }
            rememberWindow(input: input, inputStride: inputStride, tokens: tokens, state: state, width: width, back: back, channels: c..<(c + 1))
        }
        if silu, !channels.isEmpty {
            for t in 0..<tokens { tk_silu(out + t * outStride + channels.lowerBound, channels.count) }
        }
    }

    /// `convolveReference` with the channels in SIMD vectors of 16 (the remainder scalar); the
    /// same operations in the same order, so the same floats.
    static func convolve(input: UnsafePointer<Float>, inputStride: Int, tokens: Int, state: UnsafeMutablePointer<Float>,
                         width: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, kernel: Int,
                         out: UnsafeMutablePointer<Float>, outStride: Int, channels: Range<Int>, silu: Bool) {
        let back = kernel - 1
        let vectorEnd = channels.lowerBound + channels.count / 16 * 16
        for t in 0..<tokens {
            // The window's rows for this token: remembered ones first, then inputs.
            func row(_ j: Int) -> UnsafePointer<Float> {
                let source = t + j - back
                return source < 0 ? UnsafePointer(state + (back + source) * width) : input + source * inputStride
            }
            var c = channels.lowerBound
            while c < vectorEnd {
                var acc = bias.map { UnsafeRawPointer($0 + c).loadUnaligned(as: SIMD16<Float>.self) } ?? SIMD16<Float>()
                for j in 0..<kernel {
                    let w = UnsafeRawPointer(weight + j * width + c).loadUnaligned(as: SIMD16<Float>.self)
                    let v = UnsafeRawPointer(row(j) + c).loadUnaligned(as: SIMD16<Float>.self)
                    acc += w * v
                }
                UnsafeMutableRawPointer(out + t * outStride + c).storeBytes(of: acc, as: SIMD16<Float>.self)
                c += 16
            }
            for c in vectorEnd..<channels.upperBound {
                var acc = bias?[c] ?? 0
                for j in 0..<kernel { acc += weight[j * width + c] * row(j)[c] }
                out[t * outStride + c] = acc
            }
        }
        rememberWindow(input: input, inputStride: inputStride, tokens: tokens, state: state, width: width, back: back, channels: channels)
        if silu, !channels.isEmpty {
            for t in 0..<tokens { tk_silu(out + t * outStride + channels.lowerBound, channels.count) }
        }
    }

    /// The window's last `back` rows become the state (rows move up in place: row r takes row
    /// r + tokens, which is not yet overwritten when r rises).
    private static func rememberWindow(input: UnsafePointer<Float>, inputStride: Int, tokens: Int, state: UnsafeMutablePointer<Float>,
                                       width: Int, back: Int, channels: Range<Int>) {
        guard !channels.isEmpty else { return }
        for r in 0..<back {
            let source = tokens + r - back
            let from = source < 0 ? UnsafePointer(state + (back + source) * width) : input + source * inputStride
            (state + r * width + channels.lowerBound).update(from: from + channels.lowerBound, count: channels.count)
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
        if stateSize == 1 {
            scanStateSizeOne(state: state, x: x, xStride: xStride, b: b, c: c, bcStride: bcStride, dt: dt, dtStride: dtStride, a: a,
                             d: d, dStride: dStride, y: y, yStride: yStride, tokens: tokens, headSize: headSize)
            return
        }
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

    /// BitMamba-2's state of one value per channel: the head's channels in SIMD vectors of 16
    /// instead (the same operations in the same order as `scanReference`).
    private static func scanStateSizeOne(state: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, xStride: Int, b: UnsafePointer<Float>,
                                         c: UnsafePointer<Float>, bcStride: Int, dt: UnsafePointer<Float>, dtStride: Int, a: Float,
                                         d: UnsafePointer<Float>, dStride: Int, y: UnsafeMutablePointer<Float>, yStride: Int,
                                         tokens: Int, headSize: Int) {
        let vectorEnd = headSize / 16 * 16
        for t in 0..<tokens {
            let step = dt[t * dtStride], decay = Foundation.exp(step * a)
            let bt = b[t * bcStride], ct = c[t * bcStride]
            let xt = x + t * xStride, yt = y + t * yStride
            let stepV = SIMD16<Float>(repeating: step), decayV = SIMD16<Float>(repeating: decay)
            let bV = SIMD16<Float>(repeating: bt), cV = SIMD16<Float>(repeating: ct)
            var p = 0
            while p < vectorEnd {
                let xV = UnsafeRawPointer(xt + p).loadUnaligned(as: SIMD16<Float>.self)
                let dV = dStride == 0 ? SIMD16<Float>(repeating: d[0]) : UnsafeRawPointer(d + p).loadUnaligned(as: SIMD16<Float>.self)
                var h = UnsafeRawPointer(state + p).loadUnaligned(as: SIMD16<Float>.self)
                h = h * decayV + stepV * xV * bV
                UnsafeMutableRawPointer(state + p).storeBytes(of: h, as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(yt + p).storeBytes(of: h * cV + dV * xV, as: SIMD16<Float>.self)
                p += 16
            }
            for p in vectorEnd..<headSize {
                let xp = xt[p]
                state[p] = state[p] * decay + step * xp * bt
                yt[p] = state[p] * ct + d[p * dStride] * xp
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
