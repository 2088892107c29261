// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Ternary",
    platforms: [.macOS(.v15)],  // Synchronization.Mutex
    products: [
        .library(
            name: "Ternary",
            targets: ["TernaryFormat", "TernaryKernels", "TernaryTokenizer", "TernaryModels", "TernaryGeneration", "TernaryConvert"]),
        .executable(name: "ternary", targets: ["TernaryCLI"]),
        .executable(name: "ternary-kernel-bench", targets: ["KernelBench"]),
        .executable(name: "ternary-fuzz", targets: ["TernaryFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // ISA-specific kernels (AVX2, AVX-VNNI, AVX-512 VNNI) and the worker pool. Each SIMD function
        // carries its own __attribute__((target(...))) and is chosen at run time, so no unsafeFlags.
        .target(name: "CTernaryKernels"),
        .target(name: "TernaryKernels", dependencies: ["CTernaryKernels"]),
        .target(name: "TernaryFormat", dependencies: ["CTernaryKernels", "TernaryKernels"]),
        .target(name: "TernaryTokenizer", dependencies: ["TernaryFormat"]),
        .target(name: "TernaryModels", dependencies: ["CTernaryKernels", "TernaryFormat", "TernaryKernels", "TernaryTokenizer"]),
        .target(name: "TernaryGeneration", dependencies: ["TernaryFormat", "TernaryKernels", "TernaryModels", "TernaryTokenizer"]),
        .target(name: "TernaryConvert", dependencies: ["TernaryFormat", "TernaryKernels", "TernaryTokenizer", "TernaryModels"]),
        // `ternary serve`: the OpenAI-compatible HTTP front end over BatchScheduler.
        .target(
            name: "TernaryServer",
            dependencies: [
                "TernaryFormat", "TernaryModels", "TernaryGeneration", "TernaryTokenizer", "TernaryConvert",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "TernaryCLI",
            dependencies: [
                "TernaryFormat", "TernaryKernels", "TernaryTokenizer", "TernaryModels", "TernaryGeneration", "TernaryConvert", "TernaryServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "KernelBench", dependencies: ["TernaryKernels"]),
        // Fuzz targets (docs/RELIABILITY.md): the harness functions, and the `ternary-fuzz` driver that
        // replays a corpus in a plain build and is libFuzzer's main in scripts/fuzz.sh's build.
        .target(name: "TernaryFuzzTargets", dependencies: ["TernaryConvert", "TernaryFormat", "TernaryTokenizer", "TernaryModels", "TernaryGeneration", "TernaryServer"]),
        .executableTarget(name: "TernaryFuzz", dependencies: ["TernaryFuzzTargets"]),
        .testTarget(
            name: "TernaryTests",
            dependencies: ["TernaryFormat", "TernaryKernels", "TernaryTokenizer", "TernaryModels", "TernaryGeneration", "TernaryConvert",
                           "TernaryFuzzTargets"],
            resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)
