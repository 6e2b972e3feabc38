// swift-tools-version:6.2
// Coffer's micro-benchmarks (ordo-one/benchmark), kept in their own package so that CI's debug build of Coffer
// never compiles the harness. `scripts/bench` builds this package in release, which also builds the `coffer`
// binary the HTTP load tests run.
import PackageDescription

let package = Package(
    name: "coffer-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "coffer", path: ".."),
        // The malloc interposer only: the 6.3 runtime interposer is not in the package mirror.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: ["ConfigurationSupport"]),
    ],
    targets: [
        .executableTarget(
            name: "CofferBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CofferCrypto", package: "coffer"),
                .product(name: "CofferCore", package: "coffer"),
                .product(name: "CofferJSON", package: "coffer"),
                .product(name: "CofferServer", package: "coffer"),
                .product(name: "CofferKeys", package: "coffer"),
                .product(name: "CofferStore", package: "coffer"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/CofferBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The HTTP stack alone, for the ceiling reference. Not under Benchmarks/, where the benchmark plugin would take
        // every executable for a benchmark and run it.
        .executableTarget(
            name: "HelloServer",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "Tools/HelloServer"
        ),
    ]
)
