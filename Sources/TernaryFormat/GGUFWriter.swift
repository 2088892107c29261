#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CTernaryKernels

/// Writes a GGUF v3 file (little-endian, 32-byte alignment) atomically, as `SafetensorsWriter`
/// does: into `<path>.partial-<pid>`, renamed when complete, removed on an error or a signal.
public enum GGUFWriter {
    /// A metadata value as written (the reader's `GGUFFile.Value`, with explicit widths).
    public enum Entry: Sendable {
        case uint32(UInt32), int32(Int32), float32(Float), bool(Bool), string(String)
        case strings([String]), float32s([Float]), int32s([Int32])
    }

    /// A tensor: ggml dimensions (innermost first), type and its bytes.
    public struct Tensor: Sendable {
        public let name: String
        public let dimensions: [Int]
        public let type: GGUFTensorType
        public let bytes: [UInt8]

        public init(name: String, dimensions: [Int], type: GGUFTensorType, bytes: [UInt8]) {
            self.name = name
            self.dimensions = dimensions
            self.type = type
            self.bytes = bytes
        }
    }

    public static let alignment = 32

    public static func write(to path: String, metadata: [(String, Entry)], tensors: [Tensor]) throws {
        var header: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { header += $0 } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); header += s.utf8 }
        u32(GGUFFile.magic)
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, entry) in metadata {
            string(key)
            switch entry {
            case let .uint32(v): u32(4); u32(v)
            case let .int32(v): u32(5); u32(UInt32(bitPattern: v))
            case let .float32(v): u32(6); u32(v.bitPattern)
            case let .bool(v): u32(7); header.append(v ? 1 : 0)
            case let .string(s): u32(8); string(s)
            case let .strings(list): u32(9); u32(8); u64(UInt64(list.count)); list.forEach(string)
            case let .float32s(list): u32(9); u32(6); u64(UInt64(list.count)); list.forEach { u32($0.bitPattern) }
            case let .int32s(list): u32(9); u32(5); u64(UInt64(list.count)); list.forEach { u32(UInt32(bitPattern: $0)) }
            }
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset = (offset + tensor.bytes.count + alignment - 1) / alignment * alignment
        }
        for (tensor, start) in zip(tensors, offsets) {
            string(tensor.name)
            u32(UInt32(tensor.dimensions.count))
            tensor.dimensions.forEach { u64(UInt64($0)) }
            u32(tensor.type.rawValue)
            u64(UInt64(start))
        }
        while header.count % alignment != 0 { header.append(0) }

        SafetensorsWriter.removeStaleTemporaries(of: path)
        let temporary = path + ".partial-\(getpid())"
        let slot = tk_cleanup_register(temporary)
        defer { tk_cleanup_unregister(slot) }
        do {
            let file = try OutputFile(creating: temporary)
            defer { file.close() }
            try header.withUnsafeBytes { try file.write($0) }
            let padding = [UInt8](repeating: 0, count: alignment)
            for tensor in tensors {
                try tensor.bytes.withUnsafeBytes { try file.write($0) }
                let pad = (alignment - tensor.bytes.count % alignment) % alignment
                try padding.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<pad])) }
            }
            try file.synchronize()
        } catch {
            unlink(temporary)
            throw FormatError.writeFailed(path: path, reason: "\(error)")
        }
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw FormatError.writeFailed(path: path, reason: reason)
        }
    }
}

extension GGUFTensorType {
    /// Ternary codes (rows × k, k a multiple of 256) and one scale as TQ2_0 or TQ1_0 blocks, the
    /// inverse of `ternaryBlocks`; every block carries the scale as float16.
    public static func encode(codes: [Int8], rows: Int, k: Int, scale: Float, as type: GGUFTensorType) -> [UInt8] {
        precondition(k % 256 == 0 && (type == .tq1_0 || type == .tq2_0))
        let blocks = rows * k / 256
        var out = [UInt8](repeating: 0, count: blocks * type.blockBytes)
        let d = Float16(scale).bitPattern
        for b in 0..<blocks {
            let q = { (j: Int) -> UInt8 in UInt8(codes[b * 256 + j] + 1) }
            let base = b * type.blockBytes
            if type == .tq2_0 {
                for j in 0..<256 { out[base + 32 * (j / 128) + j % 32] |= q(j) << UInt8(2 * ((j % 128) / 32)) }
                out[base + 64] = UInt8(d & 0xFF)
                out[base + 65] = UInt8(d >> 8)
            } else {
                // Digits most significant first, then scaled to a byte: ceil(v · 256 / 243).
                func byte(_ digits: [UInt8]) -> UInt8 {
                    let v = digits.reduce(0) { $0 * 3 + Int($1) }
                    return UInt8((v * 256 + 242) / 243)
                }
                for m in 0..<32 { out[base + m] = byte((0..<5).map { q($0 * 32 + m) }) }
                for m in 0..<16 { out[base + 32 + m] = byte((0..<5).map { q(160 + $0 * 16 + m) }) }
                for m in 0..<4 { out[base + 48 + m] = byte((0..<4).map { q(240 + $0 * 4 + m) } + [0]) }
                out[base + 52] = UInt8(d & 0xFF)
                out[base + 53] = UInt8(d >> 8)
            }
        }
        return out
    }
}
