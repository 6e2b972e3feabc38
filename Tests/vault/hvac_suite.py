#!/usr/bin/env python3
"""Vault-compatibility suite for Coffer's Vault HTTP API, driven by hvac 2.4.0.

Run as ``python3 Tests/vault/hvac_suite.py``; the process exits non-zero when
any test fails or errors.  The Swift test that starts the server sets:

  VAULT_ADDR           e.g. http://127.0.0.1:PORT
  COFFER_ADMIN_TOKEN   a token whose role in the workspace is owner
  COFFER_READER_TOKEN  a token whose role in the same workspace is reader
  COFFER_MOUNT         the KV v2 mount point (= workspace name), e.g. "team"

The transit mount point is f"{COFFER_MOUNT}/transit".

Every test uses its own paths and key names (uuid suffix), so the tests are
independent of each other and of their order.
"""

import base64
import json
import os
import sys
import unittest
import uuid
import warnings

import hvac
import hvac.exceptions as hx
import requests


def _require_env(name):
    value = os.environ.get(name)
    if not value:
        sys.stderr.write(f"hvac_suite: environment variable {name} is not set\n")
        sys.exit(2)
    return value


VAULT_ADDR = _require_env("VAULT_ADDR").rstrip("/")
ADMIN_TOKEN = _require_env("COFFER_ADMIN_TOKEN")
READER_TOKEN = _require_env("COFFER_READER_TOKEN")
KV_MOUNT = _require_env("COFFER_MOUNT").strip("/")
TRANSIT_MOUNT = f"{KV_MOUNT}/transit"

# Every HTTP request is bounded; the whole suite should take a few seconds.
HTTP_TIMEOUT = 10

ENVELOPE_KEYS = (
    "request_id",
    "lease_id",
    "renewable",
    "lease_duration",
    "data",
    "wrap_info",
    "warnings",
    "auth",
)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def b64(value):
    """Standard base64 (with padding) of a str (UTF-8) or bytes, as str."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def unb64(text):
    return base64.b64decode(text.encode("ascii"), validate=True)


def uid():
    return uuid.uuid4().hex[:12]


def make_client(token, **kwargs):
    return hvac.Client(url=VAULT_ADDR, token=token, timeout=HTTP_TIMEOUT, **kwargs)


def show(obj, limit=1500):
    """Render a response (dict from hvac's JSONAdapter, or requests.Response) for messages."""
    if isinstance(obj, requests.Response):
        text = obj.text
        if len(text) > limit:
            text = text[:limit] + "...(truncated)"
        return (
            f"<HTTP {obj.status_code} {obj.request.method} {obj.url} "
            f"Content-Type={obj.headers.get('Content-Type')!r} body={text!r}>"
        )
    try:
        text = json.dumps(obj, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        text = repr(obj)
    if len(text) > limit:
        text = text[:limit] + "...(truncated)"
    return text


def describe_error(err):
    """Everything hvac kept about a failed request."""
    return (
        f"{type(err).__name__} on {err.method} {err.url}: errors={err.errors!r} "
        f"json={show(err.json) if err.json is not None else None} text={err.text!r}"
    )


def error_text(err):
    """The server's error messages as one string (hvac joins `errors`; fall back to raw text)."""
    parts = list(err.errors or [])
    if err.text:
        parts.append(err.text)
    if err.args and err.args[0]:
        parts.append(str(err.args[0]))
    return " | ".join(parts)


class CofferTestCase(unittest.TestCase):
    """Shared clients and assertion helpers."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.admin = make_client(ADMIN_TOKEN)
        cls.reader = make_client(READER_TOKEN)

    @classmethod
    def tearDownClass(cls):
        cls.admin.adapter.close()
        cls.reader.adapter.close()

    # -- generic ----------------------------------------------------------

    def assertVaultRaises(self, exc_type, fn, *args, **kwargs):
        """Call fn and require exactly hvac exception exc_type (i.e. a given HTTP status)."""
        try:
            result = fn(*args, **kwargs)
        except exc_type as err:
            return err
        except hx.VaultError as err:
            self.fail(
                f"expected {exc_type.__name__}, got {describe_error(err)}"
            )
        self.fail(
            f"expected {exc_type.__name__}, but the call succeeded and returned {show(result)}"
        )

    def assertSucceeded(self, result, what):
        """hvac returns a dict for 200+JSON and a requests.Response otherwise (e.g. 204)."""
        if isinstance(result, requests.Response):
            self.assertIn(
                result.status_code, (200, 204), f"{what}: unexpected response {show(result)}"
            )
        else:
            self.assertIsInstance(result, dict, f"{what}: unexpected result {show(result)}")

    def data_of(self, response, what):
        self.assertIsInstance(response, dict, f"{what}: expected a JSON body, got {show(response)}")
        data = response.get("data")
        self.assertIsInstance(data, dict, f"{what}: `data` is not an object in {show(response)}")
        return data

    # -- KV v2 --------------------------------------------------------------

    def kv_path(self, prefix="app/db"):
        return f"{prefix}-{uid()}"

    def kv_write(self, path, secret, cas=None, client=None):
        client = client or self.admin
        resp = client.secrets.kv.v2.create_or_update_secret(
            path=path, secret=secret, cas=cas, mount_point=KV_MOUNT
        )
        data = self.data_of(resp, f"create_or_update_secret({path!r})")
        self.assertIn("version", data, f"write response lacks data.version: {show(resp)}")
        return resp

    def kv_read(self, path, version=None, raise_on_deleted_version=True, client=None):
        client = client or self.admin
        return client.secrets.kv.v2.read_secret_version(
            path=path,
            version=version,
            mount_point=KV_MOUNT,
            raise_on_deleted_version=raise_on_deleted_version,
        )

    def kv_read_missing_version(self, path, version=None):
        """Read a version expected to be deleted/destroyed: 404 whose JSON body still carries data.metadata.

        Does not go through raise_on_deleted_version (hvac only returns the body when
        deletion_time != ""; a destroyed-but-never-deleted version has deletion_time "").
        """
        err = self.assertVaultRaises(
            hx.InvalidPath, self.kv_read, path, version=version, raise_on_deleted_version=True
        )
        self.assertIsNotNone(
            err.json,
            "404 for a deleted/destroyed version must be a JSON body with Content-Type exactly "
            f"'application/json' (hvac ignores the body otherwise): {describe_error(err)}",
        )
        return err.json

    def kv_metadata(self, path, client=None):
        client = client or self.admin
        resp = client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=KV_MOUNT)
        return self.data_of(resp, f"read_secret_metadata({path!r})")

    # -- transit ------------------------------------------------------------

    def new_key(self):
        name = f"key-{uid()}"
        resp = self.admin.secrets.transit.create_key(name=name, mount_point=TRANSIT_MOUNT)
        self.assertSucceeded(resp, f"create_key({name!r})")
        return name

    def encrypt(self, name, plaintext_b64, client=None, **kwargs):
        client = client or self.admin
        resp = client.secrets.transit.encrypt_data(
            name=name, plaintext=plaintext_b64, mount_point=TRANSIT_MOUNT, **kwargs
        )
        data = self.data_of(resp, f"encrypt_data({name!r})")
        ciphertext = data.get("ciphertext")
        self.assertIsInstance(ciphertext, str, f"encrypt_data: no ciphertext in {show(resp)}")
        return ciphertext

    def decrypt(self, name, ciphertext, client=None, **kwargs):
        client = client or self.admin
        resp = client.secrets.transit.decrypt_data(
            name=name, ciphertext=ciphertext, mount_point=TRANSIT_MOUNT, **kwargs
        )
        data = self.data_of(resp, f"decrypt_data({name!r})")
        self.assertIn("plaintext", data, f"decrypt_data: no plaintext in {show(resp)}")
        return data["plaintext"]

    def read_key(self, name, client=None):
        client = client or self.admin
        resp = client.secrets.transit.read_key(name=name, mount_point=TRANSIT_MOUNT)
        return self.data_of(resp, f"read_key({name!r})")

    def rotate(self, name):
        resp = self.admin.secrets.transit.rotate_key(name=name, mount_point=TRANSIT_MOUNT)
        self.assertSucceeded(resp, f"rotate_key({name!r})")

    def configure_key(self, name, **kwargs):
        resp = self.admin.secrets.transit.update_key_configuration(
            name=name, mount_point=TRANSIT_MOUNT, **kwargs
        )
        self.assertSucceeded(resp, f"update_key_configuration({name!r}, {kwargs})")


# --------------------------------------------------------------------------
# 1. Authentication, health, token lookup
# --------------------------------------------------------------------------


class AuthAndSysTests(CofferTestCase):
    def test_is_authenticated_with_admin_token(self):
        self.assertTrue(self.admin.is_authenticated())

    def test_is_authenticated_with_reader_token(self):
        self.assertTrue(self.reader.is_authenticated())

    def test_is_not_authenticated_with_bogus_token(self):
        bogus = make_client("nope")
        self.addCleanup(bogus.adapter.close)
        # hvac maps only 400/403/404 to False; a 401 would surface as hvac.exceptions.Unauthorized.
        try:
            result = bogus.is_authenticated()
        except hx.VaultError as err:
            self.fail(
                "is_authenticated() must return False for a bogus token "
                f"(server must answer lookup-self with 403): {describe_error(err)}"
            )
        self.assertFalse(result)

    def test_health_status_get_reports_initialized_unsealed_active(self):
        resp = self.admin.sys.read_health_status(method="GET")
        self.assertIsInstance(resp, dict, f"GET /v1/sys/health: {show(resp)}")
        self.assertIs(resp.get("initialized"), True, show(resp))
        self.assertIs(resp.get("sealed"), False, show(resp))
        self.assertIs(resp.get("standby"), False, show(resp))

    def test_lookup_self_returns_data_with_policies(self):
        resp = self.admin.auth.token.lookup_self()
        data = self.data_of(resp, "lookup_self")
        self.assertIsInstance(data.get("policies"), list, f"lookup_self: {show(resp)}")

    def test_lookup_self_works_for_reader(self):
        resp = self.reader.auth.token.lookup_self()
        data = self.data_of(resp, "lookup_self (reader)")
        self.assertIsInstance(data.get("policies"), list, f"lookup_self: {show(resp)}")


# --------------------------------------------------------------------------
# 2. KV v2
# --------------------------------------------------------------------------


class KvV2WriteReadTests(CofferTestCase):
    def test_first_write_returns_version_1(self):
        resp = self.kv_write(self.kv_path(), {"user": "app", "password": "s3cret"})
        self.assertEqual(resp["data"]["version"], 1, show(resp))

    def test_read_returns_written_data_and_metadata(self):
        path = self.kv_path()
        secret = {"user": "app", "password": "s3cret", "port": "5432"}
        self.kv_write(path, secret)
        resp = self.kv_read(path)
        data = self.data_of(resp, "read_secret_version")
        self.assertEqual(data.get("data"), secret, show(resp))
        meta = data.get("metadata")
        self.assertIsInstance(meta, dict, show(resp))
        self.assertEqual(meta.get("version"), 1, show(resp))
        self.assertIsInstance(meta.get("created_time"), str, show(resp))
        self.assertTrue(meta["created_time"], f"created_time is empty: {show(resp)}")
        self.assertEqual(meta.get("deletion_time"), "", show(resp))
        self.assertIs(meta.get("destroyed"), False, show(resp))

    def test_second_write_returns_version_2_and_is_latest(self):
        path = self.kv_path()
        self.kv_write(path, {"v": "one"})
        resp = self.kv_write(path, {"v": "two"})
        self.assertEqual(resp["data"]["version"], 2, show(resp))
        read = self.kv_read(path)
        self.assertEqual(read["data"]["data"], {"v": "two"}, show(read))
        self.assertEqual(read["data"]["metadata"]["version"], 2, show(read))

    def test_read_specific_old_version_returns_old_data(self):
        path = self.kv_path()
        self.kv_write(path, {"v": "one"})
        self.kv_write(path, {"v": "two"})
        resp = self.kv_read(path, version=1)
        self.assertEqual(resp["data"]["data"], {"v": "one"}, show(resp))
        self.assertEqual(resp["data"]["metadata"]["version"], 1, show(resp))

    def test_read_never_existing_path_raises_invalid_path(self):
        self.assertVaultRaises(hx.InvalidPath, self.kv_read, self.kv_path("never/existed"))

    def test_read_never_existing_path_raises_even_when_not_raising_on_deleted(self):
        # hvac only swallows the 404 when the body has data.metadata.deletion_time != "";
        # a never-written path must not look like a deleted version.
        self.assertVaultRaises(
            hx.InvalidPath,
            self.kv_read,
            self.kv_path("never/existed"),
            raise_on_deleted_version=False,
        )


class KvV2CasTests(CofferTestCase):
    def test_cas_zero_on_existing_path_is_rejected(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        err = self.assertVaultRaises(hx.InvalidRequest, self.kv_write, path, {"a": "2"}, cas=0)
        self.assertIn(
            "check-and-set parameter did not match the current version",
            error_text(err),
            describe_error(err),
        )
        # The rejected write left the secret untouched.
        read = self.kv_read(path)
        self.assertEqual(read["data"]["data"], {"a": "1"}, show(read))
        self.assertEqual(read["data"]["metadata"]["version"], 1, show(read))

    def test_cas_stale_version_is_rejected(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.kv_write(path, {"a": "2"})
        err = self.assertVaultRaises(hx.InvalidRequest, self.kv_write, path, {"a": "3"}, cas=1)
        self.assertIn(
            "check-and-set parameter did not match the current version",
            error_text(err),
            describe_error(err),
        )

    def test_cas_matching_current_version_succeeds(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        resp = self.kv_write(path, {"a": "2"}, cas=1)
        self.assertEqual(resp["data"]["version"], 2, show(resp))

    def test_cas_zero_on_new_path_succeeds(self):
        resp = self.kv_write(self.kv_path(), {"a": "1"}, cas=0)
        self.assertEqual(resp["data"]["version"], 1, show(resp))


class KvV2PatchTests(CofferTestCase):
    def _patch(self, path, secret):
        # hvac's patch() reads without raise_on_deleted_version (DeprecationWarning); keep output clean.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return self.admin.secrets.kv.v2.patch(path=path, secret=secret, mount_point=KV_MOUNT)

    def test_patch_merges_into_latest_version(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1", "b": "2"})
        resp = self._patch(path, {"b": "20", "c": "30"})
        self.assertEqual(self.data_of(resp, "patch").get("version"), 2, show(resp))
        read = self.kv_read(path)
        self.assertEqual(read["data"]["data"], {"a": "1", "b": "20", "c": "30"}, show(read))
        self.assertEqual(read["data"]["metadata"]["version"], 2, show(read))

    def test_patch_missing_path_raises_invalid_path(self):
        self.assertVaultRaises(hx.InvalidPath, self._patch, self.kv_path("never/existed"), {"a": "1"})


class KvV2DeleteTests(CofferTestCase):
    def test_delete_latest_version_then_read_shows_deletion(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        resp = self.admin.secrets.kv.v2.delete_latest_version_of_secret(path=path, mount_point=KV_MOUNT)
        self.assertSucceeded(resp, "delete_latest_version_of_secret")
        read = self.kv_read(path, raise_on_deleted_version=False)
        self.assertIsInstance(read, dict, show(read))
        self.assertIsNone(read["data"]["data"], show(read))
        self.assertIsInstance(read["data"]["metadata"]["deletion_time"], str, show(read))
        self.assertNotEqual(read["data"]["metadata"]["deletion_time"], "", show(read))
        self.assertEqual(read["data"]["metadata"]["version"], 1, show(read))

    def test_delete_latest_version_then_read_raises_by_default(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.admin.secrets.kv.v2.delete_latest_version_of_secret(path=path, mount_point=KV_MOUNT)
        self.assertVaultRaises(hx.InvalidPath, self.kv_read, path, raise_on_deleted_version=True)

    def test_undelete_restores_deleted_version(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.kv_write(path, {"a": "2"})
        self.admin.secrets.kv.v2.delete_latest_version_of_secret(path=path, mount_point=KV_MOUNT)
        resp = self.admin.secrets.kv.v2.undelete_secret_versions(
            path=path, versions=[2], mount_point=KV_MOUNT
        )
        self.assertSucceeded(resp, "undelete_secret_versions")
        read = self.kv_read(path)
        self.assertEqual(read["data"]["data"], {"a": "2"}, show(read))
        self.assertEqual(read["data"]["metadata"]["deletion_time"], "", show(read))
        self.assertEqual(read["data"]["metadata"]["version"], 2, show(read))

    def test_delete_specific_version_marks_only_that_version_deleted(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.kv_write(path, {"a": "2"})
        resp = self.admin.secrets.kv.v2.delete_secret_versions(
            path=path, versions=[1], mount_point=KV_MOUNT
        )
        self.assertSucceeded(resp, "delete_secret_versions")
        read = self.kv_read(path, version=1, raise_on_deleted_version=False)
        self.assertIsNone(read["data"]["data"], show(read))
        self.assertNotEqual(read["data"]["metadata"]["deletion_time"], "", show(read))
        latest = self.kv_read(path)
        self.assertEqual(latest["data"]["data"], {"a": "2"}, show(latest))

    def test_destroy_version_shows_destroyed_in_metadata(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.kv_write(path, {"a": "2"})
        resp = self.admin.secrets.kv.v2.destroy_secret_versions(
            path=path, versions=[1], mount_point=KV_MOUNT
        )
        self.assertSucceeded(resp, "destroy_secret_versions")
        meta = self.kv_metadata(path)
        versions = meta.get("versions")
        self.assertIsInstance(versions, dict, show(meta))
        self.assertIs(versions.get("1", {}).get("destroyed"), True, show(meta))
        self.assertIs(versions.get("2", {}).get("destroyed"), False, show(meta))

    def test_read_destroyed_version_returns_no_data_and_destroyed_flag(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.kv_write(path, {"a": "2"})
        self.admin.secrets.kv.v2.destroy_secret_versions(path=path, versions=[1], mount_point=KV_MOUNT)
        body = self.kv_read_missing_version(path, version=1)
        self.assertIsNone(body["data"]["data"], show(body))
        self.assertIs(body["data"]["metadata"]["destroyed"], True, show(body))

    def test_delete_then_destroy_version_reads_as_destroyed(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.kv_write(path, {"a": "2"})
        self.admin.secrets.kv.v2.delete_secret_versions(path=path, versions=[1], mount_point=KV_MOUNT)
        self.admin.secrets.kv.v2.destroy_secret_versions(path=path, versions=[1], mount_point=KV_MOUNT)
        read = self.kv_read(path, version=1, raise_on_deleted_version=False)
        self.assertIsNone(read["data"]["data"], show(read))
        self.assertIs(read["data"]["metadata"]["destroyed"], True, show(read))

    def test_delete_metadata_and_all_versions_removes_secret(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.kv_write(path, {"a": "2"})
        resp = self.admin.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=KV_MOUNT)
        self.assertSucceeded(resp, "delete_metadata_and_all_versions")
        self.assertVaultRaises(hx.InvalidPath, self.kv_read, path)
        self.assertVaultRaises(hx.InvalidPath, self.kv_metadata, path)


class KvV2MetadataTests(CofferTestCase):
    def test_read_metadata_has_all_fields(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.kv_write(path, {"a": "2"})
        meta = self.kv_metadata(path)
        for field in (
            "current_version",
            "oldest_version",
            "max_versions",
            "cas_required",
            "created_time",
            "updated_time",
            "custom_metadata",
            "versions",
        ):
            self.assertIn(field, meta, f"metadata lacks {field!r}: {show(meta)}")
        self.assertEqual(meta["current_version"], 2, show(meta))
        self.assertIsInstance(meta["created_time"], str, show(meta))
        self.assertIsInstance(meta["updated_time"], str, show(meta))
        self.assertIsInstance(meta["versions"], dict, show(meta))
        self.assertEqual(sorted(meta["versions"].keys()), ["1", "2"], show(meta))
        for key, version in meta["versions"].items():
            for field in ("created_time", "deletion_time", "destroyed"):
                self.assertIn(field, version, f"versions[{key!r}] lacks {field!r}: {show(meta)}")
            self.assertEqual(version["deletion_time"], "", show(meta))
            self.assertIs(version["destroyed"], False, show(meta))

    def test_update_metadata_is_reflected(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        resp = self.admin.secrets.kv.v2.update_metadata(
            path=path,
            max_versions=2,
            cas_required=True,
            custom_metadata={"owner": "team-a"},
            mount_point=KV_MOUNT,
        )
        self.assertSucceeded(resp, "update_metadata")
        meta = self.kv_metadata(path)
        self.assertEqual(meta.get("max_versions"), 2, show(meta))
        self.assertIs(meta.get("cas_required"), True, show(meta))
        self.assertEqual(meta.get("custom_metadata"), {"owner": "team-a"}, show(meta))

    def test_cas_required_rejects_write_without_cas(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.admin.secrets.kv.v2.update_metadata(path=path, cas_required=True, mount_point=KV_MOUNT)
        err = self.assertVaultRaises(hx.InvalidRequest, self.kv_write, path, {"a": "2"})
        self.assertIn("check-and-set parameter required", error_text(err), describe_error(err))
        resp = self.kv_write(path, {"a": "2"}, cas=1)
        self.assertEqual(resp["data"]["version"], 2, show(resp))

    def test_max_versions_prunes_oldest_versions(self):
        path = self.kv_path()
        self.kv_write(path, {"n": "1"})
        self.admin.secrets.kv.v2.update_metadata(path=path, max_versions=2, mount_point=KV_MOUNT)
        for n in range(2, 5):
            self.kv_write(path, {"n": str(n)})
        meta = self.kv_metadata(path)
        self.assertEqual(meta.get("current_version"), 4, show(meta))
        self.assertEqual(sorted(meta.get("versions", {}).keys()), ["3", "4"], show(meta))
        self.assertEqual(meta.get("oldest_version"), 3, show(meta))
        read = self.kv_read(path)
        self.assertEqual(read["data"]["data"], {"n": "4"}, show(read))


class KvV2ListTests(CofferTestCase):
    def _populate(self):
        folder = f"list-{uid()}"
        self.kv_write(f"{folder}/a", {"x": "1"})
        self.kv_write(f"{folder}/b/c", {"x": "2"})
        return folder

    def test_list_returns_keys_and_subfolders_sorted(self):
        folder = self._populate()
        resp = self.admin.secrets.kv.v2.list_secrets(path=folder, mount_point=KV_MOUNT)
        self.assertEqual(self.data_of(resp, "list_secrets").get("keys"), ["a", "b/"], show(resp))

    def test_list_with_strict_http_uses_get_list_true(self):
        folder = self._populate()
        strict = make_client(ADMIN_TOKEN, strict_http=True)
        self.addCleanup(strict.adapter.close)
        resp = strict.secrets.kv.v2.list_secrets(path=folder, mount_point=KV_MOUNT)
        self.assertEqual(self.data_of(resp, "list_secrets (GET ?list=true)").get("keys"), ["a", "b/"], show(resp))

    def test_list_nested_folder(self):
        folder = self._populate()
        resp = self.admin.secrets.kv.v2.list_secrets(path=f"{folder}/b", mount_point=KV_MOUNT)
        self.assertEqual(self.data_of(resp, "list_secrets").get("keys"), ["c"], show(resp))

    def test_list_empty_folder_raises_invalid_path(self):
        self.assertVaultRaises(
            hx.InvalidPath,
            self.admin.secrets.kv.v2.list_secrets,
            path=f"empty-{uid()}",
            mount_point=KV_MOUNT,
        )


class KvV2ConfigTests(CofferTestCase):
    def _restore_defaults(self):
        self.admin.secrets.kv.v2.configure(max_versions=0, cas_required=False, mount_point=KV_MOUNT)

    def test_configure_and_read_configuration_round_trip(self):
        self.addCleanup(self._restore_defaults)
        resp = self.admin.secrets.kv.v2.configure(max_versions=7, cas_required=False, mount_point=KV_MOUNT)
        self.assertSucceeded(resp, "configure")
        read = self.admin.secrets.kv.v2.read_configuration(mount_point=KV_MOUNT)
        data = self.data_of(read, "read_configuration")
        self.assertEqual(data.get("max_versions"), 7, show(read))
        self.assertIs(data.get("cas_required"), False, show(read))

    def test_restored_default_configuration_reads_back(self):
        self.addCleanup(self._restore_defaults)
        self._restore_defaults()
        read = self.admin.secrets.kv.v2.read_configuration(mount_point=KV_MOUNT)
        data = self.data_of(read, "read_configuration")
        self.assertEqual(data.get("max_versions"), 0, show(read))
        self.assertIs(data.get("cas_required"), False, show(read))


class KvV2ReaderTests(CofferTestCase):
    def test_reader_can_read(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        resp = self.kv_read(path, client=self.reader)
        self.assertEqual(resp["data"]["data"], {"a": "1"}, show(resp))

    def test_reader_cannot_write(self):
        self.assertVaultRaises(
            hx.Forbidden, self.kv_write, self.kv_path(), {"a": "1"}, client=self.reader
        )

    def test_reader_cannot_update_existing_secret(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.assertVaultRaises(hx.Forbidden, self.kv_write, path, {"a": "2"}, client=self.reader)
        read = self.kv_read(path)
        self.assertEqual(read["data"]["data"], {"a": "1"}, show(read))

    def test_reader_cannot_delete_metadata_and_all_versions(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        self.assertVaultRaises(
            hx.Forbidden,
            self.reader.secrets.kv.v2.delete_metadata_and_all_versions,
            path=path,
            mount_point=KV_MOUNT,
        )
        read = self.kv_read(path)
        self.assertEqual(read["data"]["data"], {"a": "1"}, show(read))


# --------------------------------------------------------------------------
# 3. Transit
# --------------------------------------------------------------------------


class TransitKeyTests(CofferTestCase):
    def test_read_key_after_create(self):
        name = self.new_key()
        data = self.read_key(name)
        self.assertIsInstance(data.get("keys"), dict, show(data))
        self.assertIn("1", data["keys"], show(data))
        self.assertEqual(data.get("latest_version"), 1, show(data))
        self.assertEqual(data.get("min_decryption_version"), 1, show(data))
        self.assertEqual(data.get("min_encryption_version"), 0, show(data))
        self.assertEqual(data.get("type"), "aes256-gcm96", show(data))

    def test_list_keys_contains_created_key(self):
        name = self.new_key()
        resp = self.admin.secrets.transit.list_keys(mount_point=TRANSIT_MOUNT)
        keys = self.data_of(resp, "list_keys").get("keys")
        self.assertIsInstance(keys, list, show(resp))
        self.assertIn(name, keys, show(resp))

    def test_read_missing_key_raises_invalid_path(self):
        self.assertVaultRaises(hx.InvalidPath, self.read_key, f"missing-{uid()}")


class TransitEncryptTests(CofferTestCase):
    def test_encrypt_produces_v1_ciphertext(self):
        name = self.new_key()
        ciphertext = self.encrypt(name, b64("hello"))
        self.assertTrue(ciphertext.startswith("vault:v1:"), ciphertext)

    def test_decrypt_round_trip(self):
        name = self.new_key()
        ciphertext = self.encrypt(name, b64("hello"))
        self.assertEqual(self.decrypt(name, ciphertext), b64("hello"))

    def test_two_encryptions_of_same_plaintext_differ(self):
        name = self.new_key()
        first = self.encrypt(name, b64("hello"))
        second = self.encrypt(name, b64("hello"))
        self.assertNotEqual(first, second)

    def test_associated_data_round_trip(self):
        name = self.new_key()
        ciphertext = self.encrypt(name, b64("hello"), associated_data=b64(b"ctx"))
        self.assertEqual(self.decrypt(name, ciphertext, associated_data=b64(b"ctx")), b64("hello"))

    def test_wrong_associated_data_is_rejected(self):
        name = self.new_key()
        ciphertext = self.encrypt(name, b64("hello"), associated_data=b64(b"ctx"))
        self.assertVaultRaises(
            hx.InvalidRequest, self.decrypt, name, ciphertext, associated_data=b64(b"other")
        )

    def test_decrypt_with_missing_key_raises_invalid_request(self):
        name = self.new_key()
        ciphertext = self.encrypt(name, b64("hello"))
        self.assertVaultRaises(hx.InvalidRequest, self.decrypt, f"missing-{uid()}", ciphertext)


class TransitRotationTests(CofferTestCase):
    def test_rotate_sets_latest_version_2(self):
        name = self.new_key()
        self.rotate(name)
        data = self.read_key(name)
        self.assertEqual(data.get("latest_version"), 2, show(data))
        self.assertEqual(sorted(data.get("keys", {}).keys()), ["1", "2"], show(data))

    def test_encrypt_after_rotate_uses_v2(self):
        name = self.new_key()
        self.rotate(name)
        ciphertext = self.encrypt(name, b64("hello"))
        self.assertTrue(ciphertext.startswith("vault:v2:"), ciphertext)
        self.assertEqual(self.decrypt(name, ciphertext), b64("hello"))

    def test_old_ciphertext_still_decrypts_after_rotate(self):
        name = self.new_key()
        v1 = self.encrypt(name, b64("hello"))
        self.rotate(name)
        self.assertEqual(self.decrypt(name, v1), b64("hello"))

    def test_rewrap_upgrades_to_latest_version(self):
        name = self.new_key()
        v1 = self.encrypt(name, b64("hello"))
        self.rotate(name)
        resp = self.admin.secrets.transit.rewrap_data(name=name, ciphertext=v1, mount_point=TRANSIT_MOUNT)
        rewrapped = self.data_of(resp, "rewrap_data").get("ciphertext")
        self.assertIsInstance(rewrapped, str, show(resp))
        self.assertTrue(rewrapped.startswith("vault:v2:"), show(resp))
        self.assertEqual(self.decrypt(name, rewrapped), b64("hello"))

    def test_encrypt_with_explicit_key_version_1(self):
        name = self.new_key()
        self.rotate(name)
        ciphertext = self.encrypt(name, b64("hello"), key_version=1)
        self.assertTrue(ciphertext.startswith("vault:v1:"), ciphertext)
        self.assertEqual(self.decrypt(name, ciphertext), b64("hello"))

    def test_min_decryption_version_blocks_older_ciphertext(self):
        name = self.new_key()
        v1 = self.encrypt(name, b64("hello"))
        self.rotate(name)
        v2 = self.encrypt(name, b64("hello"))
        self.configure_key(name, min_decryption_version=2)
        self.assertEqual(self.read_key(name).get("min_decryption_version"), 2)
        self.assertVaultRaises(hx.InvalidRequest, self.decrypt, name, v1)
        self.assertEqual(self.decrypt(name, v2), b64("hello"))

    def test_trim_key_removes_versions_below_min(self):
        # Vault requires trim's min_available_version <= min_decryption_version and
        # <= min_encryption_version (neither 0).  hvac refuses, client-side, a call that sets
        # both with min_encryption_version <= min_decryption_version, so rotate to v3 and use 2/3.
        name = self.new_key()
        v1 = self.encrypt(name, b64("hello"))
        self.rotate(name)
        self.rotate(name)
        self.configure_key(name, min_decryption_version=2, min_encryption_version=3)
        resp = self.admin.secrets.transit.trim_key(name=name, min_version=2, mount_point=TRANSIT_MOUNT)
        self.assertSucceeded(resp, "trim_key")
        data = self.read_key(name)
        keys = data.get("keys")
        self.assertIsInstance(keys, dict, show(data))
        self.assertNotIn("1", keys, show(data))
        self.assertIn("2", keys, show(data))
        self.assertIn("3", keys, show(data))
        self.assertVaultRaises(hx.InvalidRequest, self.decrypt, name, v1)


class TransitMalformedCiphertextTests(CofferTestCase):
    def test_tampered_ciphertext_is_rejected(self):
        name = self.new_key()
        ciphertext = self.encrypt(name, b64("hello"))
        prefix, _, body = ciphertext.rpartition(":")
        raw = bytearray(unb64(body))
        raw[len(raw) // 2] ^= 0x01  # flip one bit; still valid base64 after re-encoding
        tampered = f"{prefix}:{b64(bytes(raw))}"
        self.assertNotEqual(tampered, ciphertext)
        self.assertVaultRaises(hx.InvalidRequest, self.decrypt, name, tampered)

    def test_non_base64_ciphertext_is_rejected(self):
        name = self.new_key()
        self.assertVaultRaises(hx.InvalidRequest, self.decrypt, name, "vault:v1:notbase64!!")

    def test_ciphertext_without_vault_prefix_is_rejected(self):
        name = self.new_key()
        ciphertext = self.encrypt(name, b64("hello"))
        self.assertVaultRaises(hx.InvalidRequest, self.decrypt, name, ciphertext.rpartition(":")[2])


class TransitBatchTests(CofferTestCase):
    COUNT = 1000

    def test_batch_encrypt_and_decrypt_1000_items_in_order(self):
        name = self.new_key()
        plaintexts = [b64(f"item-{i}") for i in range(self.COUNT)]
        resp = self.admin.secrets.transit.encrypt_data(
            name=name,
            batch_input=[{"plaintext": p} for p in plaintexts],
            mount_point=TRANSIT_MOUNT,
        )
        results = self.data_of(resp, "encrypt_data(batch)").get("batch_results")
        self.assertIsInstance(results, list, show(resp))
        self.assertEqual(len(results), self.COUNT, show(resp))
        ciphertexts = []
        for i, item in enumerate(results):
            self.assertNotIn("error", item, f"batch_results[{i}]: {show(item)}")
            self.assertTrue(
                isinstance(item.get("ciphertext"), str) and item["ciphertext"].startswith("vault:v1:"),
                f"batch_results[{i}]: {show(item)}",
            )
            ciphertexts.append(item["ciphertext"])

        resp = self.admin.secrets.transit.decrypt_data(
            name=name,
            batch_input=[{"ciphertext": c} for c in ciphertexts],
            mount_point=TRANSIT_MOUNT,
        )
        results = self.data_of(resp, "decrypt_data(batch)").get("batch_results")
        self.assertIsInstance(results, list, show(resp))
        self.assertEqual(len(results), self.COUNT, show(resp))
        self.assertEqual([item.get("plaintext") for item in results], plaintexts)


class TransitDataKeyTests(CofferTestCase):
    def test_generate_plaintext_data_key_round_trip(self):
        name = self.new_key()
        resp = self.admin.secrets.transit.generate_data_key(
            name=name, key_type="plaintext", mount_point=TRANSIT_MOUNT
        )
        data = self.data_of(resp, "generate_data_key(plaintext)")
        plaintext = data.get("plaintext")
        self.assertIsInstance(plaintext, str, show(resp))
        self.assertEqual(len(unb64(plaintext)), 32, show(resp))
        ciphertext = data.get("ciphertext")
        self.assertIsInstance(ciphertext, str, show(resp))
        self.assertTrue(ciphertext.startswith("vault:v1:"), show(resp))
        self.assertEqual(self.decrypt(name, ciphertext), plaintext)

    def test_generate_wrapped_data_key_has_no_plaintext(self):
        name = self.new_key()
        resp = self.admin.secrets.transit.generate_data_key(
            name=name, key_type="wrapped", mount_point=TRANSIT_MOUNT
        )
        data = self.data_of(resp, "generate_data_key(wrapped)")
        self.assertIsNone(data.get("plaintext"), show(resp))
        self.assertIsInstance(data.get("ciphertext"), str, show(resp))
        self.assertTrue(data["ciphertext"].startswith("vault:v1:"), show(resp))
        self.assertEqual(len(unb64(self.decrypt(name, data["ciphertext"]))), 32)


class TransitReaderTests(CofferTestCase):
    def test_reader_can_encrypt_and_decrypt(self):
        name = self.new_key()
        ciphertext = self.encrypt(name, b64("hello"), client=self.reader)
        self.assertTrue(ciphertext.startswith("vault:v1:"), ciphertext)
        self.assertEqual(self.decrypt(name, ciphertext, client=self.reader), b64("hello"))

    def test_reader_can_rewrap(self):
        name = self.new_key()
        v1 = self.encrypt(name, b64("hello"))
        self.rotate(name)
        resp = self.reader.secrets.transit.rewrap_data(name=name, ciphertext=v1, mount_point=TRANSIT_MOUNT)
        rewrapped = self.data_of(resp, "rewrap_data (reader)").get("ciphertext")
        self.assertTrue(isinstance(rewrapped, str) and rewrapped.startswith("vault:v2:"), show(resp))

    def test_reader_can_generate_data_key(self):
        name = self.new_key()
        resp = self.reader.secrets.transit.generate_data_key(
            name=name, key_type="plaintext", mount_point=TRANSIT_MOUNT
        )
        data = self.data_of(resp, "generate_data_key (reader)")
        self.assertIsInstance(data.get("plaintext"), str, show(resp))
        self.assertIsInstance(data.get("ciphertext"), str, show(resp))

    def test_reader_cannot_create_key(self):
        self.assertVaultRaises(
            hx.Forbidden,
            self.reader.secrets.transit.create_key,
            name=f"key-{uid()}",
            mount_point=TRANSIT_MOUNT,
        )

    def test_reader_cannot_rotate_key(self):
        name = self.new_key()
        self.assertVaultRaises(
            hx.Forbidden, self.reader.secrets.transit.rotate_key, name=name, mount_point=TRANSIT_MOUNT
        )
        self.assertEqual(self.read_key(name).get("latest_version"), 1)

    def test_reader_cannot_update_key_configuration(self):
        name = self.new_key()
        self.assertVaultRaises(
            hx.Forbidden,
            self.reader.secrets.transit.update_key_configuration,
            name=name,
            deletion_allowed=True,
            mount_point=TRANSIT_MOUNT,
        )


class TransitDeleteTests(CofferTestCase):
    def test_delete_key_without_deletion_allowed_is_rejected(self):
        name = self.new_key()
        self.assertVaultRaises(
            hx.InvalidRequest, self.admin.secrets.transit.delete_key, name=name, mount_point=TRANSIT_MOUNT
        )
        self.assertEqual(self.read_key(name).get("latest_version"), 1)

    def test_delete_key_after_deletion_allowed(self):
        name = self.new_key()
        self.configure_key(name, deletion_allowed=True)
        resp = self.admin.secrets.transit.delete_key(name=name, mount_point=TRANSIT_MOUNT)
        self.assertSucceeded(resp, "delete_key")
        self.assertVaultRaises(hx.InvalidPath, self.read_key, name)


# --------------------------------------------------------------------------
# 4. Raw HTTP envelope
# --------------------------------------------------------------------------


class RawEnvelopeTests(CofferTestCase):
    def setUp(self):
        self.session = requests.Session()
        self.addCleanup(self.session.close)

    def _get(self, path, token=None):
        headers = {"X-Vault-Token": token} if token else {}
        return self.session.get(f"{VAULT_ADDR}/v1/{path}", headers=headers, timeout=HTTP_TIMEOUT)

    def _json(self, resp):
        try:
            return resp.json()
        except ValueError:
            self.fail(f"response is not JSON: {show(resp)}")

    def test_kv_read_has_full_vault_envelope(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        resp = self._get(f"{KV_MOUNT}/data/{path}", token=ADMIN_TOKEN)
        self.assertEqual(resp.status_code, 200, show(resp))
        body = self._json(resp)
        missing = [key for key in ENVELOPE_KEYS if key not in body]
        self.assertEqual(missing, [], f"envelope lacks {missing}: {show(resp)}")
        self.assertEqual(body["data"]["data"], {"a": "1"}, show(resp))

    def test_no_token_is_permission_denied(self):
        path = self.kv_path()
        self.kv_write(path, {"a": "1"})
        resp = self._get(f"{KV_MOUNT}/data/{path}")
        self.assertEqual(resp.status_code, 403, show(resp))
        self.assertEqual(self._json(resp), {"errors": ["permission denied"]}, show(resp))

    def test_error_content_type_is_exactly_application_json(self):
        # hvac only parses the error body (errors list, and the KV deleted-version body)
        # when Content-Type == "application/json" exactly, without parameters.
        resp = self._get(f"{KV_MOUNT}/data/{self.kv_path('never/existed')}", token=ADMIN_TOKEN)
        self.assertEqual(resp.status_code, 404, show(resp))
        self.assertEqual(resp.headers.get("Content-Type"), "application/json", show(resp))

    def test_internal_ui_mounts_reports_kv_v2(self):
        resp = self._get(f"sys/internal/ui/mounts/{KV_MOUNT}/anything", token=ADMIN_TOKEN)
        self.assertEqual(resp.status_code, 200, show(resp))
        body = self._json(resp)
        data = body.get("data")
        self.assertIsInstance(data, dict, show(resp))
        self.assertEqual(data.get("type"), "kv", show(resp))
        self.assertEqual((data.get("options") or {}).get("version"), "2", show(resp))


if __name__ == "__main__":
    unittest.main(verbosity=2)
