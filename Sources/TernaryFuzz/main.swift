// ternary-fuzz TARGET [ARGS…]
//
// Built plainly (`swift build`), it replays files: `ternary-fuzz json Fuzz/corpus/json` runs every
// file under the given paths through the target and reports violations. Built for fuzzing
// (scripts/fuzz.sh: `-sanitize=fuzzer,address -D FUZZING`), the same command line is libFuzzer's:
// `ternary-fuzz json -max_total_time=60 CORPUS_DIR`.
import Foundation
import TernaryFuzzTargets

func usage() -> Never {
    var text = "usage: ternary-fuzz TARGET [FILES or DIRECTORIES | libFuzzer options]\ntargets:\n"
    for target in FuzzTargets.all { text += "  \(target.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(target.summary)\n" }
    FileHandle.standardError.write(Data(text.utf8))
    exit(2)
}

guard CommandLine.arguments.count >= 2, let target = FuzzTargets.named(CommandLine.arguments[1]) else { usage() }

#if FUZZING
nonisolated(unsafe) var selected: FuzzTarget = target

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    do {
        try selected.run(UnsafeRawBufferPointer(start: data, count: count))
    } catch {
        fatalError("property violated: \(error)")
    }
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

// One run before fuzzing loads what the target loads once (the shipped tokenizer), so that time
// does not count against the first input's timeout.
_ = try? target.run(UnsafeRawBufferPointer(start: nil, count: 0))

// libFuzzer sees the program name and everything after TARGET.
var argv: [UnsafeMutablePointer<CChar>?] = [CommandLine.unsafeArgv[0]] + (2..<Int(CommandLine.argc)).map { CommandLine.unsafeArgv[$0] } + [nil]
var argc = CInt(argv.count - 1)
exit(argv.withUnsafeMutableBufferPointer { buffer in
    var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
    return LLVMFuzzerRunDriver(&argc, &pointer, testOneInput)
})
#else
var files: [String] = []
for path in CommandLine.arguments.dropFirst(2) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        FileHandle.standardError.write(Data("ternary-fuzz: no such file or directory: \(path)\n".utf8))
        exit(2)
    }
    if isDirectory.boolValue {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        files += names.sorted().map { path + "/" + $0 }
    } else {
        files.append(path)
    }
}
var failures = 0
for file in files {
    guard let data = FileManager.default.contents(atPath: file) else { continue }
    do {
        try data.withUnsafeBytes { try target.run($0) }
    } catch {
        failures += 1
        print("FAIL \(file): \(error)")
    }
}
print("\(target.name): \(files.count) inputs, \(failures) property violations")
exit(failures == 0 ? 0 : 1)
#endif
