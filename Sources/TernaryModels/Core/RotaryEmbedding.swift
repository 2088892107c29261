#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rotary position embedding (RoPE) of queries and keys, as Hugging Face's Llama family and
/// llama2.c's run.c compute it: pair j of a head's first `dimensions` values is rotated by the
/// angle position · θ_j, with θ_j = 1 / base^(2j / dimensions) (adjusted by `rope_scaling`).
struct RotaryEmbedding: Sendable {
    enum Style: String, Sendable, CaseIterable {
        /// Pairs (j, j + dimensions/2): HF's `rotate_half` (Llama, GPT-NeoX, BitNet).
        case neox
        /// Pairs (2j, 2j + 1): GPT-J, and llama2.c's run.c.
        case gptj
    }

    let style: Style
    /// Rotated values per head (even, at most the head size); the rest pass through.
    let dimensions: Int
    /// θ_j for j < dimensions / 2.
    let inverseFrequencies: [Float]

    init(style: Style, dimensions: Int, base: Double, scaling: RopeScaling?) {
        precondition(dimensions >= 2 && dimensions % 2 == 0, "RoPE rotates pairs")
        self.style = style
        self.dimensions = dimensions
        var frequencies = (0..<(dimensions / 2)).map { j in
            Float(1) / Float(pow(base, Double(Float(2 * j) / Float(dimensions))))
        }
        if let scaling { frequencies = scaling.apply(frequencies) }
        inverseFrequencies = frequencies
    }

    /// cos and sin of every angle for `count` positions: two (count, dimensions / 2) tables.
    func tables(positions: UnsafePointer<Int32>, count: Int, cos cosines: UnsafeMutablePointer<Float>, sin sines: UnsafeMutablePointer<Float>) {
        let half = dimensions / 2
        inverseFrequencies.withUnsafeBufferPointer { theta in
            for t in 0..<count {
                let p = Float(positions[t])
                for j in 0..<half {
                    let angle = Double(p * theta[j])  // float32 product, as torch and run.c compute it
                    cosines[t * half + j] = Float(cos(angle))
                    sines[t * half + j] = Float(sin(angle))
                }
            }
        }
    }

    /// Rotates `heads` consecutive heads of `headSize` values in place with one position's tables.
    @inline(__always)
    func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, headSize: Int, cos c: UnsafePointer<Float>, sin s: UnsafePointer<Float>) {
        let half = dimensions / 2
        for h in 0..<heads {
            let v = x + h * headSize
            switch style {
            case .neox:
                for j in 0..<half {
                    let a = v[j], b = v[j + half]
                    v[j] = a * c[j] - b * s[j]
                    v[j + half] = b * c[j] + a * s[j]
                }
            case .gptj:
                for j in 0..<half {
                    let a = v[2 * j], b = v[2 * j + 1]
                    v[2 * j] = a * c[j] - b * s[j]
                    v[2 * j + 1] = a * s[j] + b * c[j]
                }
            }
        }
    }
}

/// `rope_scaling` (or transformers 5's `rope_parameters`) of a Hugging Face config: the types this
/// engine runs; any other type is refused when the config is read.
enum RopeScaling: Sendable, Equatable {
    /// Positions divided by `factor` (all frequencies divided by it).
    case linear(factor: Double)
    /// Llama 3.1's frequency-dependent scaling.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Double)

    static let supportedTypes = ["default", "linear", "llama3"]

    func apply(_ frequencies: [Float]) -> [Float] {
        switch self {
        case let .linear(factor):
            return frequencies.map { Float(Double($0) / factor) }
        case let .llama3(factor, low, high, original):
            let lowWavelength = original / low, highWavelength = original / high
            return frequencies.map { f in
                let frequency = Double(f), wavelength = 2 * Double.pi / frequency
                if wavelength < highWavelength { return f }
                if wavelength > lowWavelength { return Float(frequency / factor) }
                let smooth = (original / wavelength - low) / (high - low)
                return Float((1 - smooth) * frequency / factor + smooth * frequency)
            }
        }
    }
}
