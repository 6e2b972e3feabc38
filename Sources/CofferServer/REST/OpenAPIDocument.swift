import CofferCore
import Foundation

/// The OpenAPI 3.1 description of every endpoint, request and response (errors included), served at
/// `GET /openapi.json`. Tests validate it and fuzz a live server against it.
enum OpenAPIDocument {
    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static func string(_ format: String? = nil, nullable: Bool = false, enum values: [String]? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["type": nullable ? ["string", "null"] : "string"]
        if let format { schema["format"] = .string(format) }
        if let values { schema["enum"] = .array(values.map(JSONValue.string) + (nullable ? [.null] : [])) }
        return .object(schema)
    }
    static let integer: JSONValue = ["type": "integer"]
    static func text(min: Int = 1, max: Int, pattern: String? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["type": "string", "minLength": .number(Double(min)), "maxLength": .number(Double(max))]
        if let pattern { schema["pattern"] = .string(pattern) }
        return .object(schema)
    }
    /// An environment-variable name, as secret names must be.
    static let secretName = text(max: 128, pattern: "^[A-Za-z_][A-Za-z0-9_]*$")
    /// One line with no surrounding blanks (workspace and token names).
    static let label = text(max: 100, pattern: "^[^\\s](.*[^\\s])?$")
    static let password = text(min: 12, max: 72, pattern: "^[ -~]+$")
    static let username = text(min: 3, max: 64, pattern: "^[A-Za-z0-9._@-]+$")
    static let tag = text(max: 64, pattern: "^[A-Za-z0-9_.:/@+-]+$")
    /// Values: 1 to 65,536 bytes (ASCII here, so characters are bytes).
    static let value = text(max: 65_536, pattern: "^[ -~]+$")
    static let boolean: JSONValue = ["type": "boolean"]
    static func array(_ items: JSONValue) -> JSONValue { ["type": "array", "items": items] }
    static func object(_ properties: [String: JSONValue], required: [String]? = nil) -> JSONValue {
        .object([
            "type": "object", "properties": .object(properties),
            "required": .array((required ?? properties.keys.sorted()).map(JSONValue.string)),
        ])
    }
    static func list(_ item: String) -> JSONValue { object(["items": array(ref(item))]) }
    static func page(_ item: String) -> JSONValue {
        object(["items": array(ref(item)), "total": integer, "limit": integer, "offset": integer])
    }

    static let secretTypes = SecretType.allCases.map(\.rawValue) + ["database_cred"]
    static let policies = RotationPolicy.allCases.map(\.rawValue)
    static let roles = Role.allCases.map(\.rawValue)

    static var schemas: [String: JSONValue] {
        let date = string("date-time")
        let nullableDate = string("date-time", nullable: true)
        return [
            "Error": object(["error": object(["code": string(), "message": string()])]),
            "OpenAPI": ["type": "object"],
            "Health": object(["status": string()]),
            "Credentials": object(["username": username, "password": password]),
            "User": object(["id": string(), "username": string(), "is_admin": boolean, "created_at": date]),
            "TokenGrant": object([
                "access_token": string(), "token_type": string(enum: ["bearer"]), "expires_in": integer,
                "refresh_token": string(),
            ]),
            "LoginRequest": object(
                ["username": username, "password": password, "cookie": boolean], required: ["username", "password"]),
            // A `"cookie": true` login or a cookie refresh: the tokens are in HttpOnly cookies, not here.
            "CookieGrant": object(["token_type": string(enum: ["cookie"]), "expires_in": integer]),
            "LoginGrant": ["oneOf": [ref("TokenGrant"), ref("CookieGrant")]],
            "RefreshRequest": object(["refresh_token": string()]),
            "PasswordChange": object(["current_password": string(), "new_password": password]),
            "WorkspaceCreate": object(["name": label]),
            "Workspace": object(["id": string(), "name": string(), "created_at": date, "role": string(enum: roles)]),
            "WorkspaceList": list("Workspace"),
            "MemberAdd": object(["username": username, "role": string(enum: roles)]),
            "Member": object(["user_id": string(), "username": string(), "role": string(), "created_at": date]),
            "MemberList": list("Member"),
            "ServiceTokenCreate": object(
                [
                    "name": label, "role": string(enum: ["reader", "writer"]),
                    "expires_in_days": ["type": "integer", "minimum": 1, "maximum": 3650],
                ],
                required: ["name", "role"]),
            "ServiceToken": object(
                [
                    "id": string(), "workspace_id": string(), "name": string(), "role": string(), "created_at": date,
                    "expires_at": date, "revoked": boolean, "token": string(nullable: true),
                ], required: ["id", "workspace_id", "name", "role", "created_at", "expires_at", "revoked"]),
            "ServiceTokenList": list("ServiceToken"),
            "GeneratorSpec": object(
                [
                    "length": ["type": "integer", "minimum": 8, "maximum": 4096],
                    "charset": string(enum: ["alphanumeric", "hex", "base64url", "ascii_printable"]),
                ],
                required: []),
            "SecretCreate": object(
                [
                    "name": secretName, "value": value, "generate": ref("GeneratorSpec"),
                    "secret_type": string(enum: secretTypes), "usage": text(min: 0, max: 1000),
                    "rotation_policy": string(enum: policies), "tags": ["type": "array", "items": tag, "maxItems": 50],
                    "metadata": ["type": "object"],
                ], required: ["name", "value"]),
            "SecretPatch": object(
                [
                    "value": value, "secret_type": string(enum: secretTypes), "usage": text(min: 0, max: 1000),
                    "rotation_policy": string(enum: policies), "tags": ["type": "array", "items": tag, "maxItems": 50],
                    "metadata": ["type": "object"], "is_active": boolean,
                ], required: []),
            "SecretRotate": object(["new_value": value], required: []),
            "SecretRollback": object(["version": ["type": "integer", "minimum": 1]]),
            "SecretMetadata": object([
                "id": string(), "workspace_id": string(), "name": string(), "secret_type": string(),
                "usage": string(nullable: true), "rotation_policy": string(), "last_rotated_at": nullableDate,
                "rotation_due_at": nullableDate, "tags": array(string()), "metadata": ["type": "object"],
                "is_active": boolean, "created_by_user_id": string(nullable: true),
                "updated_by_user_id": string(nullable: true), "version": integer, "created_at": date,
                "updated_at": date, "deleted_at": nullableDate,
            ]),
            "SecretPage": page("SecretMetadata"),
            "SecretValue": object(["id": string(), "name": string(), "value": string(), "version": integer]),
            "SecretValueList": object(["items": array(ref("SecretValue")), "inactive": array(string())]),
            "SecretVersion": object([
                "version": integer, "dek_version": integer, "created_by_user_id": string(nullable: true),
                "created_at": date, "is_current": boolean,
            ]),
            "SecretVersionList": list("SecretVersion"),
            "RotationWebhookSet": object(["url": string("uri")]),
            "RotationWebhook": object(
                [
                    "url": string("uri"), "failures": integer, "retry_at": string("date-time", nullable: true),
                    "last_error": string(nullable: true), "signing_key": string(),
                ], required: ["url", "failures", "retry_at", "last_error"]),
            "RotationDue": object(["items": array(ref("SecretMetadata")), "days_ahead": integer]),
            "Statistics": object([
                "total_secrets": integer, "active_secrets": integer, "deleted_secrets": integer,
                "by_type": ["type": "object", "additionalProperties": integer],
                "by_rotation_policy": ["type": "object", "additionalProperties": integer],
                "due_within_7_days": integer, "overdue": integer, "accesses_last_24h": integer,
                "failed_accesses_last_24h": integer,
            ]),
            "AuditEntry": object([
                "id": string(), "sequence": integer, "workspace_id": string(nullable: true),
                "secret_id": string(nullable: true), "action": string(), "user_id": string(nullable: true),
                "ip_address": string(nullable: true), "user_agent": string(nullable: true),
                "request_id": string(nullable: true), "details": ["type": "object"], "success": boolean,
                "created_at": date,
            ]),
            "AuditList": list("AuditEntry"),
            "AuditPage": page("AuditEntry"),
            "ImportItem": object(
                ["name": secretName, "value": value, "secret_type": string(enum: secretTypes)], required: ["name", "value"]),
            "SecretBatch": object(
                [
                    "items": ["type": "array", "items": ref("ImportItem"), "minItems": 1, "maxItems": 10000],
                    "overwrite": boolean, "dry_run": boolean,
                ], required: ["items"]),
            "ImportResult": object(["created": array(string()), "updated": array(string()), "skipped": array(string())]),
            "KeyRotationRequest": object(["workspace_id": string()], required: []),
            "KeyRotationJob": object([
                "id": string(), "workspace_id": string(nullable: true),
                "status": string(enum: ["running", "completed", "superseded"]), "total": integer, "done": integer,
                "failed": integer, "remaining": integer, "started_at": date, "finished_at": nullableDate,
            ]),
            "RotationStatus": object(["in_progress": boolean, "jobs": array(ref("KeyRotationJob"))]),
            "EncryptionHealth": object([
                "current_backend": string(),
                "health_status": [
                    "type": "object",
                    "additionalProperties": object(["healthy": boolean, "key_id": string(), "last_check": date]),
                ],
            ]),
            "GeneratedKey": object(["key": string(), "algorithm": string(enum: ["fernet"])]),
            "AuditVerification": object([
                "checked": integer, "first_bad_sequence": ["type": ["integer", "null"]], "intact": boolean,
            ]),
        ]
    }

    /// One operation: summary, parameters, optional JSON body, the success answer, and every error answer.
    static func op(
        _ summary: String, params: [JSONValue] = [], body: String? = nil, bodyRequired: Bool = true, ok: Int = 200,
        alsoOK: [Int] = [], returns: String? = nil, security: JSONValue? = nil, text: Bool = false
    ) -> JSONValue {
        var operation: [String: JSONValue] = ["summary": .string(summary)]
        if !params.isEmpty { operation["parameters"] = .array(params) }
        if let body {
            operation["requestBody"] = [
                "required": .bool(bodyRequired), "content": ["application/json": ["schema": ref(body)]],
            ]
        }
        var responses: [String: JSONValue] = [:]
        if let returns {
            responses[String(ok)] = [
                "description": "Success.", "content": ["application/json": ["schema": ref(returns)]],
            ]
        } else if text {
            responses[String(ok)] = ["description": "Success.", "content": ["text/plain": ["schema": string()]]]
        } else {
            responses[String(ok)] = ["description": "Success, no body."]
        }
        for status in alsoOK { responses[String(status)] = responses[String(ok)] }
        for status in ["400", "401", "403", "404", "405", "409", "413", "415", "422", "429", "500", "503", "507"] {
            responses[status] = ["$ref": .string("#/components/responses/Error")]
        }
        operation["responses"] = .object(responses)
        if let security { operation["security"] = security }
        return .object(operation)
    }

    static func path(_ name: String, _ schema: JSONValue = string()) -> JSONValue {
        ["name": .string(name), "in": "path", "required": true, "schema": schema]
    }
    static func query(_ name: String, _ schema: JSONValue) -> JSONValue {
        ["name": .string(name), "in": "query", "required": false, "schema": schema]
    }

    static var document: JSONValue {
        let ws = path("workspace_id")
        let secret = path("secret_id")
        let base = "/api/secrets/workspaces/{workspace_id}/secrets"
        let publicOnly: JSONValue = [[:]]
        let optionalAuth: JSONValue = [[:], ["bearerAuth": []]]
        let limit = query("limit", ["type": "integer", "minimum": 1, "maximum": 1000])
        let offset = query("offset", ["type": "integer", "minimum": 0])
        let paths: [String: JSONValue] = [
            "/health": ["get": op("Store and keys usable (503 otherwise).", returns: "Health", security: publicOnly)],
            "/metrics": ["get": op("Prometheus metrics (instance admins, or public with COFFER_METRICS_PUBLIC).", text: true)],
            "/openapi.json": ["get": op("This document.", returns: "OpenAPI", security: publicOnly)],
            "/api/auth/register": [
                "post": op(
                    "Create an account (the first becomes instance admin).", body: "Credentials", ok: 201, returns: "User",
                    security: optionalAuth)
            ],
            "/api/auth/login": [
                "post": op(
                    "Log in; with `cookie: true`, set the session cookies instead of returning tokens.", body: "LoginRequest",
                    returns: "LoginGrant", security: publicOnly)
            ],
            "/api/auth/refresh": [
                "post": op(
                    "Exchange a refresh token (the body's, or with no body the coffer_refresh cookie) for a new pair.",
                    body: "RefreshRequest", bodyRequired: false, returns: "LoginGrant", security: publicOnly)
            ],
            "/api/auth/logout": ["post": op("End the session.", ok: 204)],
            "/api/auth/password": ["post": op("Change the password; ends every session.", body: "PasswordChange", ok: 204)],
            "/api/auth/me": ["get": op("The caller.", returns: "User")],
            "/api/workspaces": [
                "get": op("Your workspaces.", returns: "WorkspaceList"),
                "post": op("Create a workspace.", body: "WorkspaceCreate", ok: 201, returns: "Workspace"),
            ],
            "/api/workspaces/{workspace_id}/members": [
                "get": op("Members.", params: [ws], returns: "MemberList"),
                "post": op("Add a member or change a role.", params: [ws], body: "MemberAdd", ok: 201, returns: "Member"),
            ],
            "/api/workspaces/{workspace_id}/members/{user_id}": [
                "delete": op("Remove a member.", params: [ws, path("user_id")], ok: 204)
            ],
            "/api/workspaces/{workspace_id}/tokens": [
                "get": op("Service tokens (no values).", params: [ws], returns: "ServiceTokenList"),
                "post": op("Create a service token (its value is shown once).", params: [ws], body: "ServiceTokenCreate", ok: 201, returns: "ServiceToken"),
            ],
            "/api/workspaces/{workspace_id}/tokens/{token_id}": [
                "delete": op("Revoke a service token.", params: [ws, path("token_id")], ok: 204)
            ],
            base: [
                "get": op(
                    "List secrets (never values).",
                    params: [
                        ws, limit, offset, query("tag", string()), query("secret_type", string(enum: secretTypes)),
                        query("name_prefix", string()), query("include_deleted", boolean),
                    ], returns: "SecretPage"),
                "post": op("Create a secret.", params: [ws], body: "SecretCreate", ok: 201, returns: "SecretMetadata"),
            ],
            "\(base)/values": [
                "get": op("Current values in bulk (each read audited).", params: [ws, query("names", string())], returns: "SecretValueList")
            ],
            "\(base)/batch": [
                "post": op("Import many secrets in one transaction (200 for a dry run).", params: [ws], body: "SecretBatch", ok: 201, alsoOK: [200], returns: "ImportResult")
            ],
            "\(base)/rotation-due": [
                "get": op("Secrets due for rotation.", params: [ws, query("days_ahead", ["type": "integer", "minimum": 0, "maximum": 3650])], returns: "RotationDue")
            ],
            "\(base)/statistics": ["get": op("Workspace statistics.", params: [ws], returns: "Statistics")],
            "\(base)/by-name/{name}": [
                "get": op(
                    "Metadata of the live secret with this name (a KV path's slashes may follow, unescaped).",
                    params: [ws, path("name")], returns: "SecretMetadata")
            ],
            "\(base)/{secret_id}": [
                "get": op("Metadata.", params: [ws, secret], returns: "SecretMetadata"),
                "patch": op("Update; a new value makes a new version.", params: [ws, secret], body: "SecretPatch", returns: "SecretMetadata"),
                "delete": op("Delete (or purge).", params: [ws, secret, query("purge", boolean)], ok: 204),
            ],
            "\(base)/{secret_id}/value": [
                "get": op("The value (audited first).", params: [ws, secret, query("version", ["type": "integer", "minimum": 1])], returns: "SecretValue")
            ],
            "\(base)/{secret_id}/rotate": [
                "post": op("Rotate (empty body: generate).", params: [ws, secret], body: "SecretRotate", bodyRequired: false, returns: "SecretMetadata")
            ],
            "\(base)/{secret_id}/rotation-webhook": [
                "post": op(
                    "Name the webhook that supplies this secret's next value when it falls due (https, or http on loopback).",
                    params: [ws, secret], body: "RotationWebhookSet", returns: "RotationWebhook"),
                "get": op("The secret's rotation webhook and its delivery state.", params: [ws, secret], returns: "RotationWebhook"),
                "delete": op("Remove the rotation webhook.", params: [ws, secret], ok: 204),
            ],
            "\(base)/{secret_id}/versions": ["get": op("Versions, newest first.", params: [ws, secret], returns: "SecretVersionList")],
            "\(base)/{secret_id}/rollback": [
                "post": op("Write an old version's value as a new version.", params: [ws, secret], body: "SecretRollback", returns: "SecretMetadata")
            ],
            "\(base)/{secret_id}/restore": ["post": op("Undelete.", params: [ws, secret], returns: "SecretMetadata")],
            "\(base)/{secret_id}/audit": ["get": op("The secret's audit trail.", params: [ws, secret, limit], returns: "AuditList")],
            "/api/admin/audit": [
                "get": op(
                    "The whole instance's audit trail, account events included (instance admins).",
                    params: [
                        limit, offset, query("action", string(enum: AuditAction.allCases.map(\.rawValue))),
                        query("success", boolean), query("since", string("date-time")), query("user_id", string()),
                    ], returns: "AuditPage")
            ],
            "/api/secrets/workspaces/{workspace_id}/audit": [
                "get": op(
                    "The workspace's audit trail.",
                    params: [
                        ws, limit, offset, query("action", string(enum: AuditAction.allCases.map(\.rawValue))),
                        query("success", boolean), query("since", string("date-time")),
                    ], returns: "AuditPage")
            ],
            "/api/secrets/admin/encryption/rotate-key": [
                "post": op("Add a data-key version and re-encrypt in the background.", body: "KeyRotationRequest", bodyRequired: false, ok: 202, returns: "KeyRotationJob")
            ],
            "/api/secrets/admin/encryption/rotation-status": ["get": op("Re-encryption progress.", returns: "RotationStatus")],
            "/api/secrets/admin/encryption/health": ["get": op("Key backend health.", returns: "EncryptionHealth")],
            "/api/secrets/admin/encryption/generate-key": ["post": op("A fresh Fernet key (never stored).", returns: "GeneratedKey")],
            "/api/secrets/admin/audit/verify": ["get": op("Verify the audit hash chain.", returns: "AuditVerification")],
        ]
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "Coffer", "version": .string(CofferAPI.version),
                "description": "Self-hosted secrets manager: secrets encrypted at rest, audited access, key rotation.",
            ],
            "servers": [["url": "/"]],
            "security": [["bearerAuth": []], ["cookieSession": []]],
            "paths": .object(paths),
            "components": [
                "securitySchemes": [
                    "bearerAuth": ["type": "http", "scheme": "bearer"],
                    "cookieSession": [
                        "type": "apiKey", "in": "cookie", "name": .string(CookieSessions.sessionCookie),
                        "description":
                            "Set by a cookie login. Unsafe methods must also send X-CSRF-Token equal to the coffer_csrf cookie.",
                    ],
                ],
                "schemas": .object(schemas),
                "responses": [
                    "Error": [
                        "description": "An error; `code` is stable, `message` safe to show.",
                        "content": ["application/json": ["schema": ref("Error")]],
                    ]
                ],
            ],
        ]
    }
}

/// The API's version, shown in the OpenAPI document.
public enum CofferAPI {
    public static let version = "0.1.0"
}
