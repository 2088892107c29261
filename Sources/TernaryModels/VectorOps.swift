import CTernaryKernels
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small float routines around the matmuls, written with SIMD so they stay cheap.
enum VectorOps {
    /// Σ x[i] with eight lanes.
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        let r = UnsafeRawPointer(x)
        while i + 8 <= n { acc += r.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self); i += 8 }
        var s = acc.sum()
        while i < n { s += x[i]; i += 1 }
        return s
    }

    /// Σ (x[i] − c)² with eight lanes.
    @inline(__always)
    static func squaredDeviation(_ x: UnsafePointer<Float>, _ n: Int, from c: Float) -> Float {
        var acc = SIMD8<Float>()
        let cv = SIMD8<Float>(repeating: c)
        var i = 0
        let r = UnsafeRawPointer(x)
        while i + 8 <= n {
            let d = r.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - cv
            acc += d * d
            i += 8
        }
        var s = acc.sum()
        while i < n { let d = x[i] - c; s += d * d; i += 1 }
        return s
    }

    /// LayerNorm over `n` values: (x - mean) / sqrt(var + eps) * weight + bias.
    static func layerNorm(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float
    ) {
        let mean = sum(x, n) / Float(n)
        let variance = squaredDeviation(x, n, from: mean) / Float(n)
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

    /// GELU, tanh form (GPT-2's "gelu_new"), vectorised.
    static func geluTanh(_ x: UnsafeMutablePointer<Float>, _ n: Int) { tk_gelu_tanh(x, n) }

    /// GELU, erf form.
    static func geluErf(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { x[i] = 0.5 * x[i] * (1 + erff(x[i] * 0.7071067811865476)) }
    }

    static func relu(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { x[i] = max(x[i], 0) }
    }

    /// An elementwise activation, chosen once from the config (a value, so applying it per
    /// parallel task costs no closure call or reference count).
    enum Activation: Sendable {
        case geluTanh, geluErf, relu

        /// HF's activation_function names.
        init?(name: String) {
            switch name {
            case "gelu_new", "gelu_pytorch_tanh": self = .geluTanh
            case "gelu": self = .geluErf
            case "relu": self = .relu
            default: return nil
            }
        }

        @inline(__always)
        func apply(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
            switch self {
            case .geluTanh: VectorOps.geluTanh(x, n)
            case .geluErf: VectorOps.geluErf(x, n)
            case .relu: VectorOps.relu(x, n)
            }
        }
    }

    /// In-place softmax, vectorised.
    static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) { tk_softmax(x, n) }
}
