// What the services take: domain inputs. The REST surface decodes its request bodies into these
// (CofferServer/REST/Requests.swift). Validation happens in the services, which give each field's problem its
// own message.

public struct Credentials: Sendable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

public struct WorkspaceCreate: Sendable {
    public var name: String

    public init(name: String) { self.name = name }
}

public struct MemberAdd: Sendable {
    public var username: String
    public var role: String

    public init(username: String, role: String) {
        self.username = username
        self.role = role
    }
}

/// How Coffer makes a value itself: `{"length": 32, "charset": "alphanumeric"}`.
public struct GeneratorSpec: Codable, Sendable, Equatable {
    public var length: Int
    public var charset: String

    public init(length: Int = 32, charset: String = "alphanumeric") {
        self.length = length
        self.charset = charset
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        length = try c.decodeIfPresent(Int.self, forKey: .length) ?? 32
        charset = try c.decodeIfPresent(String.self, forKey: .charset) ?? "alphanumeric"
    }
}

/// Seed 004's create-secret body. Either `value` or `generate` (Coffer makes the value, and rotates it itself
/// under an `auto_*` policy).
public struct SecretCreate: Sendable {
    public var name: String
    public var value: String?
    public var generate: GeneratorSpec?
    public var secretType: String?
    public var usage: String?
    public var rotationPolicy: String?
    public var tags: [String]?
    public var metadata: JSONValue?

    public init(
        name: String, value: String?, generate: GeneratorSpec? = nil, secretType: String? = nil, usage: String? = nil, rotationPolicy: String? = nil,
        tags: [String]? = nil, metadata: JSONValue? = nil
    ) {
        self.name = name
        self.value = value
        self.generate = generate
        self.secretType = secretType
        self.usage = usage
        self.rotationPolicy = rotationPolicy
        self.tags = tags
        self.metadata = metadata
    }
}

/// Seed 004's update body: only the fields present change; a new `value` makes a new version.
public struct SecretPatch: Sendable {
    public var value: String?
    public var secretType: String?
    public var usage: String?
    public var rotationPolicy: String?
    public var tags: [String]?
    public var metadata: JSONValue?
    public var isActive: Bool?

    public init(
        value: String? = nil, usage: String? = nil, tags: [String]? = nil, secretType: String? = nil,
        rotationPolicy: String? = nil
    ) {
        self.value = value
        self.usage = usage
        self.tags = tags
        self.secretType = secretType
        self.rotationPolicy = rotationPolicy
    }
}

/// `new_value` may be omitted for a generated secret: Coffer makes the next value.
public struct SecretRotate: Sendable {
    public var newValue: String?

    public init(newValue: String?) { self.newValue = newValue }
}

public struct SecretRollback: Sendable {
    public var version: Int

    public init(version: Int) { self.version = version }
}

public struct KeyRotationRequest: Sendable {
    public var workspaceID: String?

    public init(workspaceID: String? = nil) { self.workspaceID = workspaceID }
}

public struct RefreshRequest: Sendable {
    public var refreshToken: String

    public init(refreshToken: String) { self.refreshToken = refreshToken }
}

public struct PasswordChange: Sendable {
    public var currentPassword: String
    public var newPassword: String

    public init(currentPassword: String, newPassword: String) {
        self.currentPassword = currentPassword
        self.newPassword = newPassword
    }
}

/// One entry of a batch import.
public struct SecretImportItem: Sendable {
    public var name: String
    public var value: String
    public var secretType: String?

    public init(name: String, value: String, secretType: String? = nil) {
        self.name = name
        self.value = value
        self.secretType = secretType
    }
}

/// `POST …/secrets/batch`: create (and with `overwrite`, update) many secrets in one transaction.
public struct SecretBatch: Sendable {
    public var items: [SecretImportItem]
    public var overwrite: Bool?
    public var dryRun: Bool?

    public init(items: [SecretImportItem], overwrite: Bool = false, dryRun: Bool = false) {
        self.items = items
        self.overwrite = overwrite
        self.dryRun = dryRun
    }
}
