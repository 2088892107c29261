import CTernaryKernels

/// Float16 storage with float32 arithmetic (F16C where available), for the f16 KV cache.
public enum HalfPrecision {
    @inline(__always)
    public static func dot(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float16>, _ n: Int) -> Float {
        k.withMemoryRebound(to: UInt16.self, capacity: n) { tk_dot_f16(q, $0, n) }
    }

    /// y += a · v
    @inline(__always)
    public static func axpy(_ a: Float, _ v: UnsafePointer<Float16>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        v.withMemoryRebound(to: UInt16.self, capacity: n) { tk_axpy_f16(a, $0, y, n) }
    }

    @inline(__always)
    public static func convert(_ x: UnsafePointer<Float>, to out: UnsafeMutablePointer<Float16>, _ n: Int) {
        out.withMemoryRebound(to: UInt16.self, capacity: n) { tk_f32_to_f16(x, $0, n) }
    }
}
