import CTernaryKernels

/// Float16 storage with float32 arithmetic (F16C where available), for the f16 KV cache, and the
/// bulk conversions the packer and exporter make of whole tensors.
public enum HalfPrecision {
    @inline(__always)
    public static func convert(_ x: UnsafePointer<Float>, to out: UnsafeMutablePointer<Float16>, _ n: Int) {
        out.withMemoryRebound(to: UInt16.self, capacity: n) { tk_f32_to_f16(x, $0, n) }
    }

    /// Float16(x[i]) (rounded to nearest, ties to even), for whole tensors.
    public static func float16(_ x: [Float]) -> [Float16] {
        [Float16](unsafeUninitializedCapacity: x.count) { out, count in
            if !x.isEmpty { x.withUnsafeBufferPointer { convert($0.baseAddress!, to: out.baseAddress!, x.count) } }
            count = x.count
        }
    }

    /// The floats of `count` little-endian f16 values at `bytes` (any alignment).
    public static func floats(f16 bytes: UnsafeRawPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, initialized in
            if count > 0 { tk_f16_to_f32(bytes, out.baseAddress!, count) }
            initialized = count
        }
    }

    /// The floats of `count` little-endian bf16 values at `bytes` (any alignment).
    public static func floats(bf16 bytes: UnsafeRawPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, initialized in
            if count > 0 { tk_bf16_to_f32(bytes, out.baseAddress!, count) }
            initialized = count
        }
    }
}
