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
import CTernaryKernels

/// A tensor to be written: its bytes are produced in memory, one tensor at a time.
public struct OutputTensor: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let bytes: [UInt8]

    public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
        precondition(shape.reduce(1, *) * dtype.byteSize == bytes.count, "\(name): shape and byte count disagree")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init<T>(name: String, dtype: DType, shape: [Int], values: [T]) {
        precondition(MemoryLayout<T>.stride == dtype.byteSize, "\(name): element type does not match \(dtype)")
        self.init(name: name, dtype: dtype, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
    }
}

/// Writes safetensors files in the project's canonical form (docs/FORMAT.md): `__metadata__` first,
/// then tensors ordered by element size (largest first) and name, so each tensor is aligned to its
/// element size; the header is padded with spaces to a multiple of 8. The file is written to a
/// temporary name beside the target and renamed, so an interrupted write never leaves a partial file.
public enum SafetensorsWriter {
    public static func orderedForWriting(_ tensors: [OutputTensor]) -> [OutputTensor] {
        tensors.sorted { ($1.dtype.byteSize, $0.name) < ($0.dtype.byteSize, $1.name) }
    }

    /// The header bytes (length prefix excluded) for tensors already in writing order.
    public static func header(metadata: [String: String], tensors: [OutputTensor]) -> [UInt8] {
        var pairs: [(String, JSONValue)] = []
        if !metadata.isEmpty {
            pairs.append(("__metadata__", .object(metadata.map { ($0.key, JSONValue.string($0.value)) })))
        }
        var offset = 0
        for tensor in tensors {
            let end = offset + tensor.bytes.count
            pairs.append((tensor.name, .object([
                ("dtype", .string(tensor.dtype.rawValue)),
                ("shape", .array(tensor.shape.map { .int($0) })),
                ("data_offsets", .array([.int(offset), .int(end)])),
            ])))
            offset = end
        }
        // Keys of the top level keep data order; nested objects (metadata) are sorted.
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        for (i, (key, value)) in pairs.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONValue.writeString(key, into: &bytes)
            bytes.append(UInt8(ascii: ":"))
            bytes += value.serialized(sortKeys: key == "__metadata__").utf8
        }
        bytes.append(UInt8(ascii: "}"))
        while bytes.count % 8 != 0 { bytes.append(0x20) }
        return bytes
    }

    /// Writes `tensors` (any order) with `metadata` to `path` atomically: into `<path>.partial-<pid>`,
    /// renamed when complete. The temporary file is removed on an error and when SIGINT, SIGTERM or
    /// SIGHUP ends the process; one left by a process killed outright (kill -9) is removed by the
    /// next write to the same path.
    public static func write(to path: String, metadata: [String: String], tensors: [OutputTensor]) throws {
        let ordered = orderedForWriting(tensors)
        let header = header(metadata: metadata, tensors: ordered)
        removeStaleTemporaries(of: path)
        let temporary = path + ".partial-\(getpid())"
        let slot = tk_cleanup_register(temporary)
        defer { tk_cleanup_unregister(slot) }
        do {
            let file = try OutputFile(creating: temporary)
            defer { file.close() }
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try file.write($0) }
            try header.withUnsafeBytes { try file.write($0) }
            pauseForTests()
            for tensor in ordered { try tensor.bytes.withUnsafeBytes { try file.write($0) } }
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

extension SafetensorsWriter {
    /// `TERNARY_TEST_WRITE_PAUSE_MS`: waits that long once the header is written, so a test can
    /// interrupt a write while its temporary file exists, however fast the machine (a failpoint;
    /// unset, it costs one lookup per file written).
    static func pauseForTests() {
        guard let value = getenv("TERNARY_TEST_WRITE_PAUSE_MS"), let ms = UInt32(String(cString: value)), ms > 0 else { return }
        usleep(min(ms, 60_000) * 1000)
    }

    /// Removes `<path>.partial-<pid>` files whose process no longer exists (a write killed outright).
    static func removeStaleTemporaries(of path: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let prefix = (slash.map { String(path[path.index(after: $0)...]) } ?? path) + ".partial-"
        guard let dir = opendir(directory.isEmpty ? "/" : directory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count)), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) == -1 && errno == ESRCH { unlink((directory.isEmpty ? "" : directory + "/") + name) }
        }
    }
}
