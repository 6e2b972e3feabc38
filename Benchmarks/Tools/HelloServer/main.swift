// The HTTP stack's ceiling on this machine (a reference row of BENCHMARKS.md): Hummingbird answering
// `GET /hello` with a constant body, no middleware, no database, the same build settings and event loops as
// `coffer server`. `scripts/bench` runs it under the same `wrk` load as Coffer's reads.
import Hummingbird

let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 8099
let router = Router()
router.get("hello") { _, _ in "hello" }
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
