import Benchmark

/// Every benchmark runs its operation `scaledIterations` times (1,000) per sample, so the clock's own cost
/// vanishes; scripts/bench divides the per-sample figures by 1,000 to report per operation.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.scalingFactor = .kilo
    Benchmark.defaultConfiguration.maxDuration = .seconds(3)
    Benchmark.defaultConfiguration.maxIterations = 1_000_000
    Benchmark.defaultConfiguration.metrics = [.wallClock, .throughput, .mallocCountTotal]
    registerCryptoBenchmarks()
    registerTokenBenchmarks()
    registerServiceBenchmarks()
}
