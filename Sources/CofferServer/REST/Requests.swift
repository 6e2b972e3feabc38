import CofferCore
import Foundation

// The REST surface's request bodies: how each JSON body maps onto the domain input a service takes. Decoding
// follows `Codable`'s rules (a missing or null required field, a wrong type: a 422 naming the field, through
// ``JSONCoding``); the CLI encodes the same bodies.

extension Credentials: Codable {
    enum CodingKeys: String, CodingKey { case username, password }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(username: try c.decode(String.self, forKey: .username), password: try c.decode(String.self, forKey: .password))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(username, forKey: .username)
        try c.encode(password, forKey: .password)
    }
}

extension WorkspaceCreate: Codable {
    enum CodingKeys: String, CodingKey { case name }

    public init(from decoder: any Decoder) throws {
        self.init(name: try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .name))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
    }
}

extension MemberAdd: Codable {
    enum CodingKeys: String, CodingKey { case username, role }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(username: try c.decode(String.self, forKey: .username), role: try c.decode(String.self, forKey: .role))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(username, forKey: .username)
        try c.encode(role, forKey: .role)
    }
}

/// Seed 004's create-secret body.
extension SecretCreate: Codable {
    enum CodingKeys: String, CodingKey {
        case name, value, generate, secretType = "secret_type", usage, rotationPolicy = "rotation_policy", tags
        case metadata
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), value: try c.decodeIfPresent(String.self, forKey: .value),
            generate: try c.decodeIfPresent(GeneratorSpec.self, forKey: .generate),
            secretType: try c.decodeIfPresent(String.self, forKey: .secretType),
            usage: try c.decodeIfPresent(String.self, forKey: .usage),
            rotationPolicy: try c.decodeIfPresent(String.self, forKey: .rotationPolicy),
            tags: try c.decodeIfPresent([String].self, forKey: .tags),
            metadata: try c.decodeIfPresent(JSONValue.self, forKey: .metadata))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(value, forKey: .value)
        try c.encodeIfPresent(generate, forKey: .generate)
        try c.encodeIfPresent(secretType, forKey: .secretType)
        try c.encodeIfPresent(usage, forKey: .usage)
        try c.encodeIfPresent(rotationPolicy, forKey: .rotationPolicy)
        try c.encodeIfPresent(tags, forKey: .tags)
        try c.encodeIfPresent(metadata, forKey: .metadata)
    }
}

/// Seed 004's update body: only the fields present change.
extension SecretPatch: Codable {
    enum CodingKeys: String, CodingKey {
        case value, secretType = "secret_type", usage, rotationPolicy = "rotation_policy", tags, metadata
        case isActive = "is_active"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            value: try c.decodeIfPresent(String.self, forKey: .value), usage: try c.decodeIfPresent(String.self, forKey: .usage),
            tags: try c.decodeIfPresent([String].self, forKey: .tags),
            secretType: try c.decodeIfPresent(String.self, forKey: .secretType),
            rotationPolicy: try c.decodeIfPresent(String.self, forKey: .rotationPolicy))
        metadata = try c.decodeIfPresent(JSONValue.self, forKey: .metadata)
        isActive = try c.decodeIfPresent(Bool.self, forKey: .isActive)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(value, forKey: .value)
        try c.encodeIfPresent(secretType, forKey: .secretType)
        try c.encodeIfPresent(usage, forKey: .usage)
        try c.encodeIfPresent(rotationPolicy, forKey: .rotationPolicy)
        try c.encodeIfPresent(tags, forKey: .tags)
        try c.encodeIfPresent(metadata, forKey: .metadata)
        try c.encodeIfPresent(isActive, forKey: .isActive)
    }
}

extension SecretRotate: Codable {
    enum CodingKeys: String, CodingKey { case newValue = "new_value" }

    public init(from decoder: any Decoder) throws {
        self.init(newValue: try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .newValue))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(newValue, forKey: .newValue)
    }
}

extension SecretRollback: Codable {
    enum CodingKeys: String, CodingKey { case version }

    public init(from decoder: any Decoder) throws {
        self.init(version: try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .version))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
    }
}

extension KeyRotationRequest: Decodable {
    enum CodingKeys: String, CodingKey { case workspaceID = "workspace_id" }

    public init(from decoder: any Decoder) throws {
        self.init(workspaceID: try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .workspaceID))
    }
}

/// `POST /api/auth/login`: credentials, and whether to answer with cookies (``CookieSessions``) instead of tokens.
struct LoginRequest: Decodable, Sendable {
    let credentials: Credentials
    let cookie: Bool

    enum CodingKeys: String, CodingKey { case cookie }

    init(from decoder: any Decoder) throws {
        credentials = try Credentials(from: decoder)
        cookie = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Bool.self, forKey: .cookie) ?? false
    }
}

extension RefreshRequest: Codable {
    enum CodingKeys: String, CodingKey { case refreshToken = "refresh_token" }

    public init(from decoder: any Decoder) throws {
        self.init(refreshToken: try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .refreshToken))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(refreshToken, forKey: .refreshToken)
    }
}

extension PasswordChange: Decodable {
    enum CodingKeys: String, CodingKey { case currentPassword = "current_password", newPassword = "new_password" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            currentPassword: try c.decode(String.self, forKey: .currentPassword),
            newPassword: try c.decode(String.self, forKey: .newPassword))
    }
}

extension SecretImportItem: Codable {
    enum CodingKeys: String, CodingKey { case name, value, secretType = "secret_type" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), value: try c.decode(String.self, forKey: .value),
            secretType: try c.decodeIfPresent(String.self, forKey: .secretType))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(value, forKey: .value)
        try c.encodeIfPresent(secretType, forKey: .secretType)
    }
}

/// `POST …/secrets/batch`.
extension SecretBatch: Codable {
    enum CodingKeys: String, CodingKey { case items, overwrite, dryRun = "dry_run" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(items: try c.decode([SecretImportItem].self, forKey: .items))
        overwrite = try c.decodeIfPresent(Bool.self, forKey: .overwrite)
        dryRun = try c.decodeIfPresent(Bool.self, forKey: .dryRun)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encodeIfPresent(overwrite, forKey: .overwrite)
        try c.encodeIfPresent(dryRun, forKey: .dryRun)
    }
}

extension ServiceTokenCreate: Codable {
    enum CodingKeys: String, CodingKey { case name, role, expiresInDays = "expires_in_days" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), role: try c.decode(String.self, forKey: .role),
            expiresInDays: try c.decodeIfPresent(Int.self, forKey: .expiresInDays))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(role, forKey: .role)
        try c.encodeIfPresent(expiresInDays, forKey: .expiresInDays)
    }
}
