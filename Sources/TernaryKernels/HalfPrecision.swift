import CTernaryKernels

/// Float16 storage with float32 arithmetic (F16C where available), for the f16 KV cache.
public enum HalfPrecision {
    @inline(__always)
    public static func convert(_ x: UnsafePointer<Float>, to out: UnsafeMutablePointer<Float16>, _ n: Int) {
        out.withMemoryRebound(to: UInt16.self, capacity: n) { tk_f32_to_f16(x, $0, n) }
    }
}
