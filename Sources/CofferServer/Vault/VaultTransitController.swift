import CofferCore
import CofferJSON
import Foundation
import Hummingbird
import Logging

/// Vault's transit engine at `/v1/<workspace>/transit/…`, over ``TransitService``.
struct VaultTransitController {
    let coffer: Coffer
    private var transit: TransitService { coffer.transit }

    func add(to group: RouterGroup<CofferRequestContext>) {
        for method in [HTTPRequest.Method.post, .put] {
            group.on(":mount/transit/keys/:name", method: method, use: createKey)
            group.on(":mount/transit/keys/:name/rotate", method: method, use: rotate)
            group.on(":mount/transit/keys/:name/config", method: method, use: configure)
            group.on(":mount/transit/keys/:name/trim", method: method, use: trim)
            group.on(":mount/transit/encrypt/:name", method: method, use: encrypt)
            group.on(":mount/transit/decrypt/:name", method: method, use: decrypt)
            group.on(":mount/transit/rewrap/:name", method: method, use: rewrap)
            group.on(":mount/transit/datakey/:kind/:name", method: method, use: dataKey)
        }
        group.get(":mount/transit/keys", use: listKeys)
        group.get(":mount/transit/keys/:name", use: readKey)
        group.delete(":mount/transit/keys/:name", use: deleteKey)
    }

    struct Target {
        let principal: Principal
        let workspaceID: String
        let key: String
    }

    func target(_ context: CofferRequestContext) async throws -> Target {
        let (principal, workspaceID) = try await context.vaultMount(coffer.workspaces)
        return Target(principal: principal, workspaceID: workspaceID, key: context.parameters.get("name") ?? "")
    }

    // MARK: Keys

    struct CreateBody: Decodable {
        var type: String?
        var exportable: Bool?
        var derived: Bool?
        var convergentEncryption: Bool?
        var allowPlaintextBackup: Bool?

        enum CodingKeys: String, CodingKey {
            case type, exportable, derived, convergentEncryption = "convergent_encryption"
            case allowPlaintextBackup = "allow_plaintext_backup"
        }
    }

    func createKey(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        let body = try await VaultJSON.decode(CreateBody.self, from: request, context: context, empty: CreateBody())
        for (flag, name) in [
            (body.exportable, "exportable"), (body.derived, "derived"), (body.convergentEncryption, "convergent_encryption"),
            (body.allowPlaintextBackup, "allow_plaintext_backup"),
        ] where flag == true {
            throw CofferError(.validationFailed, "\(name) keys are not supported: Coffer's transit keys never leave the server")
        }
        try await transit.createKey(t.key, type: body.type, in: t.workspaceID, by: t.principal, origin: context.origin)
        return Response(status: .noContent)
    }

    struct KeyInfo: Encodable, Sendable {
        let name: String
        let type: String
        let keys: [String: Int]
        let latestVersion: Int
        let minDecryptionVersion: Int
        let minEncryptionVersion: Int
        let minAvailableVersion: Int
        let deletionAllowed: Bool
        let derived = false
        let exportable = false
        let allowPlaintextBackup = false
        let supportsEncryption = true
        let supportsDecryption = true
        let supportsDerivation = false
        let supportsSigning = false
        let autoRotatePeriod = 0
        let importedKey = false

        enum CodingKeys: String, CodingKey {
            case name, type, keys, latestVersion = "latest_version", minDecryptionVersion = "min_decryption_version"
            case minEncryptionVersion = "min_encryption_version", minAvailableVersion = "min_available_version"
            case deletionAllowed = "deletion_allowed", derived, exportable, allowPlaintextBackup = "allow_plaintext_backup"
            case supportsEncryption = "supports_encryption", supportsDecryption = "supports_decryption"
            case supportsDerivation = "supports_derivation", supportsSigning = "supports_signing"
            case autoRotatePeriod = "auto_rotate_period", importedKey = "imported_key"
        }

        init(_ info: TransitKeyInfo) {
            name = info.name
            type = info.type
            keys = Dictionary(uniqueKeysWithValues: info.versions.map { (String($0.version), Int($0.createdAt.timeIntervalSince1970)) })
            latestVersion = info.latestVersion
            minDecryptionVersion = info.minDecryptionVersion
            minEncryptionVersion = info.minEncryptionVersion
            minAvailableVersion = info.minAvailableVersion
            deletionAllowed = info.deletionAllowed
        }
    }

    /// A key's description; a missing key is a 404, as Vault answers a read.
    func readKey(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        do {
            let info = try await transit.key(t.key, in: t.workspaceID, by: t.principal, origin: context.origin)
            return context.vault(KeyInfo(info))
        } catch let error as CofferError where error.code == .transitKeyNotFound {
            throw VaultError(status: .notFound, errors: [])
        }
    }

    struct KeyList: Encodable, Sendable { let keys: [String] }

    func listKeys(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        guard Query(request).isList else { throw VaultError(status: .methodNotAllowed, errors: ["unsupported operation"]) }
        do {
            return context.vault(KeyList(keys: try await transit.listKeys(in: t.workspaceID, by: t.principal, origin: context.origin)))
        } catch let error as CofferError where error.code == .transitKeyNotFound {
            throw VaultError(status: .notFound, errors: [])
        }
    }

    func rotate(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        try await transit.rotate(t.key, in: t.workspaceID, by: t.principal, origin: context.origin)
        return Response(status: .noContent)
    }

    struct ConfigBody: Decodable {
        var minDecryptionVersion: Int?
        var minEncryptionVersion: Int?
        var deletionAllowed: Bool?
        var exportable: Bool?
        var allowPlaintextBackup: Bool?

        enum CodingKeys: String, CodingKey {
            case minDecryptionVersion = "min_decryption_version", minEncryptionVersion = "min_encryption_version"
            case deletionAllowed = "deletion_allowed", exportable, allowPlaintextBackup = "allow_plaintext_backup"
        }
    }

    func configure(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        let body = try await VaultJSON.decode(ConfigBody.self, from: request, context: context, empty: ConfigBody())
        if body.exportable == true || body.allowPlaintextBackup == true {
            throw CofferError(.validationFailed, "Coffer's transit keys never leave the server: they cannot be made exportable")
        }
        try await transit.configure(
            t.key,
            with: TransitKeyChange(
                minDecryptionVersion: body.minDecryptionVersion, minEncryptionVersion: body.minEncryptionVersion,
                deletionAllowed: body.deletionAllowed),
            in: t.workspaceID, by: t.principal, origin: context.origin)
        return Response(status: .noContent)
    }

    struct TrimBody: Decodable {
        var minAvailableVersion: Int?
        enum CodingKeys: String, CodingKey { case minAvailableVersion = "min_available_version" }
    }

    func trim(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        let body = try await VaultJSON.decode(TrimBody.self, from: request, context: context, empty: TrimBody())
        guard let version = body.minAvailableVersion else { throw CofferError(.validationFailed, "missing min_available_version") }
        try await transit.trim(t.key, minAvailableVersion: version, in: t.workspaceID, by: t.principal, origin: context.origin)
        return Response(status: .noContent)
    }

    func deleteKey(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        try await transit.deleteKey(t.key, in: t.workspaceID, by: t.principal, origin: context.origin)
        return Response(status: .noContent)
    }

    // MARK: Encryption

    /// One request body of encrypt, decrypt or rewrap: a single item, or `batch_input`.
    struct CryptoBody: Decodable {
        struct Item: Decodable {
            var plaintext: String?
            var ciphertext: String?
            var associatedData: String?
            var keyVersion: Int?
            var context: String?
            var reference: String?

            enum CodingKeys: String, CodingKey {
                case plaintext, ciphertext, associatedData = "associated_data", keyVersion = "key_version", context
                case reference
            }

            /// One object of `batch_input`, as ``CryptoBody/init(reading:)`` reads it.
            init?(reading json: inout JSONReader) {
                var item = Item()
                var seen = Seen()
                guard json.object({ json, key in item.read(key, from: &json, seen: &seen) }) else { return nil }
                self = item
            }

            init() {}

            /// Reads the value of the member `key`; `false` for a key that is not an item's or was seen before.
            mutating func read(_ key: String, from json: inout JSONReader, seen: inout Seen) -> Bool {
                switch key {
                case "plaintext": seen.first(0) && json.optionalString(into: &plaintext)
                case "ciphertext": seen.first(1) && json.optionalString(into: &ciphertext)
                case "associated_data": seen.first(2) && json.optionalString(into: &associatedData)
                case "key_version": seen.first(3) && json.optionalInteger(into: &keyVersion)
                case "context": seen.first(4) && json.optionalString(into: &context)
                case "reference": seen.first(5) && json.optionalString(into: &reference)
                default: false
                }
            }
        }

        /// The members of one object read so far, one bit per key.
        struct Seen {
            private var bits: UInt8 = 0

            /// Marks member `bit` seen; `false` if it was already.
            mutating func first(_ bit: UInt8) -> Bool {
                defer { bits |= 1 << bit }
                return bits & (1 << bit) == 0
            }
        }

        var single: Item
        var batchInput: [Item]?
        var partialFailureResponseCode: Int?

        enum CodingKeys: String, CodingKey {
            case batchInput = "batch_input", partialFailureResponseCode = "partial_failure_response_code"
        }

        init() { single = Item() }

        init(from decoder: any Decoder) throws {
            single = try Item(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            batchInput = try c.decodeIfPresent([Item].self, forKey: .batchInput)
            partialFailureResponseCode = try c.decodeIfPresent(Int.self, forKey: .partialFailureResponseCode)
        }

        /// The body as ``init(from:)`` decodes it, read without `JSONDecoder`; `nil` for what ``JSONReader``
        /// declines, and for a key it does not know or that appears twice, which are left to the decoder.
        init?(reading json: inout JSONReader) {
            var body = CryptoBody()
            var seen = Seen()
            let read = json.object { json, key in
                switch key {
                case "batch_input":
                    guard seen.first(6) else { return false }
                    if json.null() { return true }
                    var items: [Item] = []
                    guard json.array({ json in
                        guard let item = Item(reading: &json) else { return false }
                        items.append(item)
                        return true
                    }) else { return false }
                    body.batchInput = items
                    return true
                case "partial_failure_response_code":
                    return seen.first(7) && json.optionalInteger(into: &body.partialFailureResponseCode)
                default: return body.single.read(key, from: &json, seen: &seen)
                }
            }
            guard read, json.atEnd() else { return nil }
            self = body
        }
    }

    struct Output: Encodable, JSONWritable {
        var ciphertext: String?
        var plaintext: String?
        var keyVersion: Int?
        var error: String?
        var reference: String?

        enum CodingKeys: String, CodingKey {
            case ciphertext, plaintext, keyVersion = "key_version", error, reference
        }

        func write(to json: inout JSONWriter) {
            json.object { output in
                if let ciphertext { output.member("ciphertext") { $0.string(ciphertext) } }
                if let error { output.member("error") { $0.string(error) } }
                if let keyVersion { output.member("key_version") { $0.integer(keyVersion) } }
                if let plaintext { output.member("plaintext") { $0.string(plaintext) } }
                if let reference { output.member("reference") { $0.string(reference) } }
            }
        }
    }

    struct BatchResults: Encodable, JSONWritable {
        let batchResults: [Output]
        enum CodingKeys: String, CodingKey { case batchResults = "batch_results" }

        func write(to json: inout JSONWriter) {
            json.reserve(batchResults.count * 96)
            json.object { results in
                results.member("batch_results") { $0.array(batchResults) { json, output in output.write(to: &json) } }
            }
        }
    }

    enum Operation { case encrypt, decrypt, rewrap }

    func encrypt(_ request: Request, context: CofferRequestContext) async throws -> Response {
        try await run(.encrypt, request, context)
    }

    func decrypt(_ request: Request, context: CofferRequestContext) async throws -> Response {
        try await run(.decrypt, request, context)
    }

    func rewrap(_ request: Request, context: CofferRequestContext) async throws -> Response {
        try await run(.rewrap, request, context)
    }

    /// Runs one operation over the single item or the batch. A single item's failure is a 400 with its message;
    /// in a batch each item carries its own `error`, and the answer is 400 only when every item failed (or
    /// `partial_failure_response_code` when some did), as Vault's.
    private func run(_ operation: Operation, _ request: Request, _ context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        let body = try await VaultJSON.decode(
            CryptoBody.self, from: request, context: context, empty: CryptoBody(), reading: CryptoBody.init(reading:))
        let batch = body.batchInput
        let inputs = batch ?? [body.single]
        if batch?.isEmpty == true { throw CofferError(.validationFailed, "missing batch input to process") }
        // An item without its input, or with a derivation context, fails alone (as Vault's do); the others run.
        var items: [TransitItem] = []
        var refused: [Int: String] = [:]
        items.reserveCapacity(inputs.count)
        for (index, input) in inputs.enumerated() {
            if let derivation = input.context, !derivation.isEmpty {
                refused[index] = "key was not created as a derived key; context must not be given"
            } else if let text = operation == .encrypt ? input.plaintext : input.ciphertext {
                items.append(TransitItem(input: text, associatedData: input.associatedData, keyVersion: input.keyVersion))
            } else {
                refused[index] = operation == .encrypt ? "missing plaintext to encrypt" : "missing ciphertext to decrypt"
            }
        }
        if batch == nil, let message = refused[0] { throw VaultError(status: .badRequest, errors: [message]) }
        var ran: [TransitResult] = []
        if !items.isEmpty {
            switch operation {
            case .encrypt: ran = try await transit.encrypt(items, key: t.key, in: t.workspaceID, by: t.principal, origin: context.origin)
            case .decrypt: ran = try await transit.decrypt(items, key: t.key, in: t.workspaceID, by: t.principal, origin: context.origin)
            case .rewrap: ran = try await transit.rewrap(items, key: t.key, in: t.workspaceID, by: t.principal, origin: context.origin)
            }
        }
        var next = ran.makeIterator()
        let results = inputs.indices.map { index in refused[index].map(TransitResult.failure) ?? next.next()! }
        var outputs: [Output] = []
        outputs.reserveCapacity(results.count)
        var failures = 0
        for (index, result) in results.enumerated() {
            var output = Output(reference: inputs[index].reference)
            switch result {
            case .success(let text, let version):
                if operation == .decrypt {
                    output.plaintext = text
                } else {
                    output.ciphertext = text
                    output.keyVersion = version
                }
            case .failure(let message):
                failures += 1
                output.error = message
            }
            outputs.append(output)
        }
        guard batch != nil else {
            if let message = outputs[0].error { throw VaultError(status: .badRequest, errors: [message]) }
            return context.vault(outputs[0])
        }
        var status = HTTPResponse.Status.ok
        if failures == outputs.count {
            status = .badRequest
        } else if failures > 0, let code = body.partialFailureResponseCode, (200...599).contains(code), code != 204,
            code != 304
        {
            status = .init(code: code)
        }
        return context.vault(BatchResults(batchResults: outputs), status: status)
    }

    struct DataKeyBody: Decodable {
        var bits: Int?
        var associatedData: String?
        enum CodingKeys: String, CodingKey { case bits, associatedData = "associated_data" }
    }

    /// `datakey/plaintext/<key>` (the data key and its wrapped form) or `datakey/wrapped/<key>` (only the
    /// wrapped form).
    func dataKey(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        let kind = try context.parameters.require("kind")
        guard kind == "plaintext" || kind == "wrapped" else {
            throw CofferError(.validationFailed, "the data key type must be plaintext or wrapped")
        }
        let body = try await VaultJSON.decode(DataKeyBody.self, from: request, context: context, empty: DataKeyBody())
        let key = try await transit.dataKey(
            key: t.key, bits: body.bits ?? 256, includePlaintext: kind == "plaintext", associatedData: body.associatedData,
            in: t.workspaceID, by: t.principal, origin: context.origin)
        return context.vault(Output(ciphertext: key.ciphertext, plaintext: key.plaintext, keyVersion: key.keyVersion))
    }
}
