import AsyncHTTPClient
import CofferCore
import Foundation
import NIOCore
import NIOHTTP1

/// Rotation webhooks over HTTP(S): system trust roots, no redirects followed (a redirect would carry the signed
/// request elsewhere), the whole exchange (headers and body) bounded by `timeout`, answers of at most 64 KiB.
struct HTTPWebhookTransport: RotationWebhookTransport {
    /// One client for the process, never shut down (it lives as long as the server).
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10))))

    func post(url: String, headers: [(String, String)], body: [UInt8], timeout: Duration) async throws -> (
        status: Int, body: [UInt8]
    ) {
        var prepared = HTTPClientRequest(url: url)
        prepared.method = .POST
        for (name, value) in headers { prepared.headers.add(name: name, value: value) }
        prepared.body = .bytes(ByteBuffer(bytes: body))
        let request = prepared
        return try await withThrowingTaskGroup(of: (status: Int, body: [UInt8])?.self) { group in
            group.addTask {
                let response = try await Self.client.execute(request, timeout: .init(timeout))
                let answer = try await response.body.collect(upTo: 64 << 10)
                return (Int(response.status.code), Array(answer.readableBytesView))
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else {
                throw CancellationError()
            }
            return answer
        }
    }
}
