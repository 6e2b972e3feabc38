import CofferCrypto
import CofferStore
import Crypto
import Foundation
import SQLKit

/// How the domain sends a rotation webhook's request (the server gives it an HTTP client).
public protocol RotationWebhookTransport: Sendable {
    /// POSTs `body` with `headers`; the answer's status and body (at most 64 KiB), or a thrown error.
    func post(url: String, headers: [(String, String)], body: [UInt8], timeout: Duration) async throws -> (
        status: Int, body: [UInt8]
    )
}

/// A secret's rotation webhook, as shown to its readers (never a value).
public struct RotationWebhookView: Sendable {
    public let url: String
    public let failures: Int
    public let retryAt: Date?
    public let lastError: String?
}

/// Rotation of values Coffer does not generate (seed 004's automatic rotation; AWS's rotation functions): a secret
/// names a webhook, and when the secret falls due the scheduler asks it for the next value.
///
/// Guarantees:
/// - The request carries the secret's id, name, workspace and current version and a timestamp, never a value, and
///   is signed: `X-Coffer-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(COFFER_WEBHOOK_SECRET, "<t>.<body>")>`.
/// - Only `https://` URLs, or `http://` to a loopback address.
/// - The answer `{"value": "…"}` becomes a new version, audited as rotated by the scheduler. Any failure (no answer
///   in 10 s, a status other than 2xx, no value) keeps the current value, is audited and counted, and is retried
///   after 1, 2, 4 … minutes (at most 6 hours).
extension SecretService {
    static func validateWebhook(_ url: String) throws {
        guard url.utf8.count <= 2048, let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
            let host = parsed.host, !host.isEmpty, parsed.user == nil, parsed.password == nil
        else { throw CofferError.validation("rotation webhook must be an https:// URL (at most 2048 characters)") }
        let loopback = ["127.0.0.1", "::1", "[::1]", "localhost"].contains(host.lowercased())
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw CofferError.validation("rotation webhook must be https:// (http:// only to a loopback address)")
        }
    }

    /// Names (or with `nil` removes) the webhook that supplies a secret's next value.
    public func setRotationWebhook(
        _ url: String?, of secretID: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> RotationWebhookView? {
        _ = try await access.authorize(
            .write, in: workspaceID, principal: principal, action: .updated, secretID: secretID, origin: origin)
        if let url {
            guard settings.webhookSigningKey != nil else {
                throw CofferError.validation("rotation webhooks need COFFER_WEBHOOK_SECRET (the key their requests are signed with)")
            }
            try Self.validateWebhook(url)
        }
        let now = clock()
        return try await database.write { db -> RotationWebhookView? in
            var record = try await self.secret(secretID, in: workspaceID, on: db)
            let hooks = RotationWebhookRepository()
            if let url {
                try await hooks.save(RotationWebhookRecord(secretId: secretID, url: url, updatedAt: now.millis), on: db)
            } else {
                try await hooks.delete(secretID: secretID, on: db)
            }
            try await self.save(
                &record, by: principal.userID, at: now, audit: .updated,
                details: ["fields": ["rotation_webhook"], "webhook_set": .bool(url != nil)], origin: origin, on: db)
            return url.map { RotationWebhookView(url: $0, failures: 0, retryAt: nil, lastError: nil) }
        }
    }

    /// A secret's webhook and its delivery state (`nil` when it has none).
    public func rotationWebhook(
        of secretID: String, in workspaceID: String, by principal: Principal, origin: RequestOrigin
    ) async throws -> RotationWebhookView? {
        _ = try await access.authorize(
            .read, in: workspaceID, principal: principal, action: .accessed, secretID: secretID, origin: origin)
        return try await database.read { db in
            _ = try await self.secret(secretID, in: workspaceID, on: db)
            return try await RotationWebhookRepository().find(secretID: secretID, on: db).map {
                RotationWebhookView(
                    url: $0.url, failures: $0.failures, retryAt: $0.retryAt.map(Date.init(millis:)), lastError: $0.lastError)
            }
        }
    }

    /// The signature header of a webhook request.
    static func webhookSignature(key: String, timestamp: Int64, body: [UInt8]) -> String {
        var message = Array("\(timestamp).".utf8)
        message.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(key.utf8)))
        return "t=\(timestamp),v1=" + Hex.encode(Data(mac))
    }

    /// Calls the webhooks of the due secrets (at most `limit`); returns (rotated, failed).
    func rotateDueWebhooks(transport: any RotationWebhookTransport, limit: Int = 100, origin: RequestOrigin) async throws
        -> (Int, Int)
    {
        guard let key = settings.webhookSigningKey else { return (0, 0) }
        let now = clock()
        let due = try await database.read { db in try await RotationWebhookRepository().due(at: now.millis, limit: limit, on: db) }
        var rotated = 0
        var failed = 0
        for (secret, hook) in due {
            let timestamp = Int64(now.timeIntervalSince1970)
            let request: JSONValue = .object([
                "event": "rotation_due", "secret_id": .string(secret.id), "name": .string(secret.name),
                "workspace_id": .string(secret.workspaceId), "version": .number(Double(secret.currentVersion)),
                "timestamp": .number(Double(timestamp)),
            ])
            let body = Array(request.jsonText.utf8)
            var problem: String?
            var value: String?
            do {
                let answer = try await transport.post(
                    url: hook.url,
                    headers: [
                        ("Content-Type", "application/json"), ("User-Agent", "coffer-rotation-webhook"),
                        ("X-Coffer-Signature", Self.webhookSignature(key: key, timestamp: timestamp, body: body)),
                    ],
                    body: body, timeout: .seconds(10))
                if (200..<300).contains(answer.status),
                    case .object(let members)? = try? JSONDecoder().decode(JSONValue.self, from: Data(answer.body)),
                    case .string(let next)? = members["value"]
                {
                    do {
                        try validateValue(next, field: "value")
                        value = next
                    } catch let error as CofferError {
                        problem = "the webhook's value is not acceptable: \(error.publicMessage)"
                    }
                } else {
                    problem = (200..<300).contains(answer.status)
                        ? "the webhook answered without {\"value\": \"…\"}" : "the webhook answered HTTP \(answer.status)"
                }
            } catch {
                problem = "the webhook could not be reached or did not answer in 10 s"
            }
            if let value {
                do {
                    try await database.write { db in
                        guard let current = try await self.secrets.find(id: secret.id, workspaceID: secret.workspaceId, on: db)
                        else { return }
                        _ = try await self.rotate(current, to: value, by: nil, origin: origin, on: db)
                        try await RotationWebhookRepository().save(
                            RotationWebhookRecord(secretId: secret.id, url: hook.url, updatedAt: now.millis), on: db)
                    }
                    rotated += 1
                    continue
                } catch let error as CofferError {
                    problem = "the new value could not be stored: \(error.code.rawValue)"
                }
            }
            failed += 1
            let failures = hook.failures + 1
            let wait = min(TimeInterval(60 << min(failures - 1, 9)), 6 * 3600)
            let message = problem ?? "unknown failure"
            try await database.write { db in
                var next = hook
                next.failures = failures
                next.retryAt = now.addingTimeInterval(wait).millis
                next.lastError = message
                next.updatedAt = now.millis
                try await RotationWebhookRepository().save(next, on: db)
                try await self.audit.append(
                    [
                        AuditEvent(
                            action: .rotated, workspaceID: secret.workspaceId, secretID: secret.id, userID: nil,
                            origin: origin,
                            details: [
                                "by": "rotation_scheduler", "webhook": .string(URL(string: hook.url)?.host ?? ""),
                                "reason": .string(message), "failures": .number(Double(failures)),
                            ],
                            success: false)
                    ], on: db)
            }
        }
        return (rotated, failed)
    }
}
