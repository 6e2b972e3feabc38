import AsyncHTTPClient
import CofferCore
import Foundation
import NIOCore
import NIOHTTP1

/// Rotation webhooks over HTTP(S), with the shared HTTP client (system trust roots, no redirects followed).
struct HTTPWebhookTransport: RotationWebhookTransport {
    func post(url: String, headers: [(String, String)], body: [UInt8], timeout: Duration) async throws -> (
        status: Int, body: [UInt8]
    ) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .init(timeout))
        let answer = try await response.body.collect(upTo: 64 << 10)
        return (Int(response.status.code), Array(answer.readableBytesView))
    }
}
