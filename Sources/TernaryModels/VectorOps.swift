import Foundation

/// Small float routines around the matmuls, written with SIMD so they stay cheap.
enum VectorOps {
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 8 <= n {
            acc += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// y += a * x
    @inline(__always)
    static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let av = SIMD8<Float>(repeating: a)
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        while i + 8 <= n {
            let v = ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                + av * rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            ry.storeBytes(of: v, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { y[i] += a * x[i]; i += 1 }
    }

    /// LayerNorm over `n` values: (x - mean) / sqrt(var + eps) * weight + bias.
    static func layerNorm(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float
    ) {
        var mean: Float = 0
        for i in 0..<n { mean += x[i] }
        mean /= Float(n)
        var variance: Float = 0
        for i in 0..<n { let d = x[i] - mean; variance += d * d }
        variance /= Float(n)
        let inv = 1 / (variance + eps).squareRoot()
        for i in 0..<n { out[i] = (x[i] - mean) * inv * weight[i] + bias[i] }
    }

    /// RMSNorm: x / sqrt(mean(x²) + eps) * weight.
    static func rmsNorm(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, weight: UnsafePointer<Float>, eps: Float) {
        var ss: Float = 0
        for i in 0..<n { ss += x[i] * x[i] }
        let inv = 1 / (ss / Float(n) + eps).squareRoot()
        for i in 0..<n { out[i] = x[i] * inv * weight[i] }
    }

    /// GELU, tanh form (GPT-2's "gelu_new").
    static func geluTanh(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        let c: Float = 0.7978845608028654  // sqrt(2/pi)
        for i in 0..<n {
            let v = x[i]
            x[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v)))
        }
    }

    /// GELU, erf form.
    static func geluErf(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { x[i] = 0.5 * x[i] * (1 + erff(x[i] * 0.7071067811865476)) }
    }

    static func relu(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { x[i] = max(x[i], 0) }
    }

    /// In-place softmax.
    static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var m = -Float.infinity
        for i in 0..<n { m = max(m, x[i]) }
        var s: Float = 0
        for i in 0..<n { x[i] = expf(x[i] - m); s += x[i] }
        let inv = 1 / s
        for i in 0..<n { x[i] *= inv }
    }
}
