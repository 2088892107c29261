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

    /// Σ x[i]² with eight lanes.
    @inline(__always)
    static func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        let r = UnsafeRawPointer(x)
        while i + 8 <= n {
            let v = r.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc += v * v
            i += 8
        }
        var s = acc.sum()
        while i < n { s += x[i] * x[i]; i += 1 }
        return s
    }

    /// RMSNorm: x / sqrt(mean(x²) + eps) * weight (Llama's and BitNet's norm, and the BitLinear
    /// pre-norm), vectorised.
    static func rmsNorm(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, weight: UnsafePointer<Float>, eps: Float) {
        let inv = 1 / (sumOfSquares(x, n) / Float(n) + eps).squareRoot()
        var i = 0
        let iv = SIMD8<Float>(repeating: inv)
        let src = UnsafeRawPointer(x), w = UnsafeRawPointer(weight), dst = UnsafeMutableRawPointer(out)
        while i + 8 <= n {
            let v = src.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * iv
            dst.storeBytes(of: v * w.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self), toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { out[i] = x[i] * inv * weight[i]; i += 1 }
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

    /// Squared ReLU (BitNet b1.58's "relu2").
    static func reluSquared(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { let r = max(x[i], 0); x[i] = r * r }
    }

    /// An elementwise activation, chosen once from the config (a value, so applying it per
    /// parallel task costs no closure call or reference count).
    enum Activation: Sendable {
        case geluTanh, geluErf, relu, silu, reluSquared

        /// Hugging Face's `activation_function` / `hidden_act` names this engine runs.
        static let names: [String: Activation] = [
            "gelu_new": .geluTanh, "gelu_pytorch_tanh": .geluTanh, "gelu": .geluErf, "relu": .relu,
            "silu": .silu, "swish": .silu, "relu2": .reluSquared,
        ]

        init?(name: String) {
            guard let activation = Self.names[name] else { return nil }
            self = activation
        }

        @inline(__always)
        func apply(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
            switch self {
            case .geluTanh: VectorOps.geluTanh(x, n)
            case .geluErf: VectorOps.geluErf(x, n)
            case .relu: VectorOps.relu(x, n)
            case .silu: tk_silu(x, n)
            case .reluSquared: VectorOps.reluSquared(x, n)
            }
        }
    }

    /// out[i] = a[i] · b[i] (the gated FFN's act(gate) · up), vectorised.
    static func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let pa = UnsafeRawPointer(a), pb = UnsafeRawPointer(b), po = UnsafeMutableRawPointer(out)
        while i + 8 <= n {
            let v = pa.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * pb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            po.storeBytes(of: v, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { out[i] = a[i] * b[i]; i += 1 }
    }

    /// In-place softmax, vectorised.
    static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) { tk_softmax(x, n) }
}
