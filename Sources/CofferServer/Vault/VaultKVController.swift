import CofferCore
import Foundation
import Hummingbird
import Logging

/// Vault's KV v2 at `/v1/<workspace>/…`, over ``KVService``.
struct VaultKVController {
    let coffer: Coffer
    private var kv: KVService { coffer.kv }

    func add(to group: RouterGroup<CofferRequestContext>) {
        for method in [HTTPRequest.Method.post, .put] {
            group.on(":mount/data/**", method: method, use: write)
            group.on(":mount/delete/**", method: method, use: deleteVersions)
            group.on(":mount/undelete/**", method: method, use: undelete)
            group.on(":mount/destroy/**", method: method, use: destroy)
            group.on(":mount/metadata/**", method: method, use: updateMetadata)
            group.on(":mount/config", method: method, use: configure)
        }
        group.get(":mount/data/**", use: read)
        group.patch(":mount/data/**", use: patch)
        group.delete(":mount/data/**", use: deleteLatest)
        group.get(":mount/metadata", use: metadata)
        group.get(":mount/metadata/**", use: metadata)
        group.delete(":mount/metadata/**", use: deleteMetadata)
        group.get(":mount/config", use: config)
    }

    struct Target {
        let principal: Principal
        let workspaceID: String
        let path: String
    }

    func target(_ context: CofferRequestContext) async throws -> Target {
        let (principal, workspaceID) = try await context.vaultMount(coffer.workspaces)
        return Target(principal: principal, workspaceID: workspaceID, path: try context.catchAllPath())
    }

    // MARK: Shapes

    struct VersionMetadata: Encodable, Sendable {
        let createdTime: String
        let customMetadata: [String: String]?
        let deletionTime: String
        let destroyed: Bool
        let version: Int

        enum CodingKeys: String, CodingKey {
            case createdTime = "created_time", customMetadata = "custom_metadata", deletionTime = "deletion_time"
            case destroyed, version
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(createdTime, forKey: .createdTime)
            try c.encode(customMetadata, forKey: .customMetadata)
            try c.encode(deletionTime, forKey: .deletionTime)
            try c.encode(destroyed, forKey: .destroyed)
            try c.encode(version, forKey: .version)
        }

        init(_ version: KVVersion, custom: [String: String]?) {
            createdTime = VaultJSON.time(version.createdAt)
            customMetadata = custom.flatMap { $0.isEmpty ? nil : $0 }
            deletionTime = VaultJSON.time(version.deletedAt)
            destroyed = version.destroyed
            self.version = version.version
        }
    }

    struct Entry: Encodable, Sendable {
        let data: [String: JSONValue]?
        let metadata: VersionMetadata

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(data, forKey: .data)
            try c.encode(metadata, forKey: .metadata)
        }

        enum CodingKeys: String, CodingKey { case data, metadata }
    }

    struct Options: Decodable { var cas: Int? }

    struct WriteBody: Decodable {
        var data: [String: JSONValue]?
        var options: Options?
    }

    /// `{"versions": [1, 2]}`; the vault CLI sends them as strings (`["1", "2"]` or `"1,2"`).
    struct VersionsBody: Decodable {
        var versions: [Int]?

        init() {}

        enum CodingKeys: String, CodingKey { case versions }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let numbers = try? c.decodeIfPresent([Int].self, forKey: .versions) {
                versions = numbers
                return
            }
            let texts: [String]
            if let list = try? c.decodeIfPresent([String].self, forKey: .versions) {
                texts = list
            } else if let joined = try? c.decodeIfPresent(String.self, forKey: .versions) {
                texts = joined.split(separator: ",").map(String.init)
            } else {
                guard try !c.contains(.versions) || c.decodeNil(forKey: .versions) else {
                    throw CofferError(.validationFailed, "versions must be a list of version numbers")
                }
                return
            }
            versions = try texts.map { text in
                guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
                    throw CofferError(.validationFailed, "versions must be a list of version numbers")
                }
                return number
            }
        }
    }

    struct SettingsBody: Decodable {
        var maxVersions: Int?
        var casRequired: Bool?
        var deleteVersionAfter: String?
        /// `null` values (the vault CLI's way of removing a key) are left out.
        var customMetadata: [String: String?]?

        enum CodingKeys: String, CodingKey {
            case maxVersions = "max_versions", casRequired = "cas_required"
            case deleteVersionAfter = "delete_version_after", customMetadata = "custom_metadata"
        }

        var change: KVSettingsChange {
            KVSettingsChange(
                maxVersions: maxVersions, casRequired: casRequired, deleteVersionAfter: deleteVersionAfter,
                customMetadata: customMetadata?.compactMapValues { $0 })
        }
    }

    // MARK: Data

    func read(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        let version = try Query(request).integer("version")
        if let version, version < 0 { throw CofferError(.validationFailed, "version must not be negative") }
        let entry = try await kv.read(
            t.path, version: version == 0 ? nil : version, in: t.workspaceID, by: t.principal, origin: context.origin)
        let body = Entry(data: entry.data, metadata: VersionMetadata(entry.version, custom: entry.customMetadata))
        // A deleted or destroyed version: 404 with its metadata, as Vault answers.
        return context.vault(body, status: entry.data == nil ? .notFound : .ok)
    }

    func write(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        let body = try await VaultJSON.decode(WriteBody.self, from: request, context: context, empty: WriteBody())
        guard let data = body.data else { throw CofferError(.validationFailed, "no data provided") }
        let version = try await kv.write(
            t.path, data: data, cas: body.options?.cas, in: t.workspaceID, by: t.principal, origin: context.origin)
        return context.vault(VersionMetadata(version, custom: nil))
    }

    /// JSON merge patch of the current version (`Content-Type: application/merge-patch+json`, as Vault requires).
    func patch(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/merge-patch+json") == true else {
            throw VaultError(
                status: .unsupportedMediaType,
                errors: ["PATCH requires Content-Type: application/merge-patch+json"])
        }
        let body = try await VaultJSON.decode(WriteBody.self, from: request, context: context, empty: WriteBody())
        guard let data = body.data else { throw CofferError(.validationFailed, "no data provided") }
        let version = try await kv.patch(
            t.path, with: data, cas: body.options?.cas, in: t.workspaceID, by: t.principal, origin: context.origin)
        return context.vault(VersionMetadata(version, custom: nil))
    }

    func deleteLatest(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        try await kv.change(.delete, versions: nil, of: t.path, in: t.workspaceID, by: t.principal, origin: context.origin)
        return Response(status: .noContent)
    }

    func deleteVersions(_ request: Request, context: CofferRequestContext) async throws -> Response {
        try await change(.delete, request, context)
    }

    func undelete(_ request: Request, context: CofferRequestContext) async throws -> Response {
        try await change(.undelete, request, context)
    }

    func destroy(_ request: Request, context: CofferRequestContext) async throws -> Response {
        try await change(.destroy, request, context)
    }

    private func change(
        _ change: KVService.VersionChange, _ request: Request, _ context: CofferRequestContext
    ) async throws -> Response {
        let t = try await target(context)
        let body = try await VaultJSON.decode(VersionsBody.self, from: request, context: context, empty: VersionsBody())
        guard let versions = body.versions, !versions.isEmpty else { throw CofferError(.validationFailed, "no versions provided") }
        try await kv.change(change, versions: versions, of: t.path, in: t.workspaceID, by: t.principal, origin: context.origin)
        return Response(status: .noContent)
    }

    // MARK: Metadata

    struct Metadata: Encodable, Sendable {
        struct Version: Encodable, Sendable {
            let createdTime: String
            let deletionTime: String
            let destroyed: Bool

            enum CodingKeys: String, CodingKey {
                case createdTime = "created_time", deletionTime = "deletion_time", destroyed
            }
        }

        let casRequired: Bool
        let createdTime: String
        let currentVersion: Int
        let customMetadata: [String: String]?
        let deleteVersionAfter: String
        let maxVersions: Int
        let oldestVersion: Int
        let updatedTime: String
        let versions: [String: Version]

        enum CodingKeys: String, CodingKey {
            case casRequired = "cas_required", createdTime = "created_time", currentVersion = "current_version"
            case customMetadata = "custom_metadata", deleteVersionAfter = "delete_version_after"
            case maxVersions = "max_versions", oldestVersion = "oldest_version", updatedTime = "updated_time"
            case versions
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(casRequired, forKey: .casRequired)
            try c.encode(createdTime, forKey: .createdTime)
            try c.encode(currentVersion, forKey: .currentVersion)
            try c.encode(customMetadata, forKey: .customMetadata)
            try c.encode(deleteVersionAfter, forKey: .deleteVersionAfter)
            try c.encode(maxVersions, forKey: .maxVersions)
            try c.encode(oldestVersion, forKey: .oldestVersion)
            try c.encode(updatedTime, forKey: .updatedTime)
            try c.encode(versions, forKey: .versions)
        }

        init(_ metadata: KVMetadata) {
            casRequired = metadata.casRequired
            createdTime = VaultJSON.time(metadata.createdAt)
            currentVersion = metadata.currentVersion
            customMetadata = metadata.customMetadata.isEmpty ? nil : metadata.customMetadata
            deleteVersionAfter = metadata.deleteVersionAfter
            maxVersions = metadata.maxVersions
            oldestVersion = metadata.oldestVersion
            updatedTime = VaultJSON.time(metadata.updatedAt)
            versions = Dictionary(
                uniqueKeysWithValues: metadata.versions.map {
                    (
                        String($0.version),
                        Version(
                            createdTime: VaultJSON.time($0.createdAt), deletionTime: VaultJSON.time($0.deletedAt),
                            destroyed: $0.destroyed)
                    )
                })
        }
    }

    struct KeyList: Encodable, Sendable { let keys: [String] }

    /// A path's metadata, or with `?list=true` (or `LIST`) the keys under a folder.
    func metadata(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        if Query(request).isList {
            let keys = try await kv.list(folder: t.path, in: t.workspaceID, by: t.principal, origin: context.origin)
            return context.vault(KeyList(keys: keys))
        }
        guard !t.path.isEmpty else { throw VaultError(status: .methodNotAllowed, errors: ["unsupported operation"]) }
        let metadata = try await kv.metadata(of: t.path, in: t.workspaceID, by: t.principal, origin: context.origin)
        return context.vault(Metadata(metadata))
    }

    func updateMetadata(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        let body = try await VaultJSON.decode(SettingsBody.self, from: request, context: context, empty: SettingsBody())
        try await kv.updateMetadata(
            of: t.path, with: body.change, in: t.workspaceID, by: t.principal, origin: context.origin)
        return Response(status: .noContent)
    }

    func deleteMetadata(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        try await kv.deleteMetadata(of: t.path, in: t.workspaceID, by: t.principal, origin: context.origin)
        return Response(status: .noContent)
    }

    // MARK: Mount configuration

    struct Config: Encodable, Sendable {
        let casRequired: Bool
        let deleteVersionAfter: String
        let maxVersions: Int

        enum CodingKeys: String, CodingKey {
            case casRequired = "cas_required", deleteVersionAfter = "delete_version_after", maxVersions = "max_versions"
        }
    }

    func config(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        let config = try await kv.config(in: t.workspaceID, by: t.principal, origin: context.origin)
        return context.vault(
            Config(casRequired: config.casRequired, deleteVersionAfter: config.deleteVersionAfter, maxVersions: config.maxVersions))
    }

    func configure(_ request: Request, context: CofferRequestContext) async throws -> Response {
        let t = try await target(context)
        let body = try await VaultJSON.decode(SettingsBody.self, from: request, context: context, empty: SettingsBody())
        try await kv.configure(body.change, in: t.workspaceID, by: t.principal, origin: context.origin)
        return Response(status: .noContent)
    }
}
