//! Data carried by CTAP2 commands. These types are the key layer's public contract:
//! ceremonies build a [`MakeCredentialRequest`] and turn a [`MakeCredentialResponse`]
//! into a WebAuthn attestationObject; the station reads [`AuthenticatorInfo`].
use serde::Serialize;
use std::collections::BTreeMap;

/// authenticatorGetInfo (0x04), decoded. Unknown fields are ignored; absent optional
/// fields are `None` (a CTAP 2.0 key advertises far less than a 2.1 key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuthenticatorInfo {
    /// 0x01, e.g. ["U2F_V2", "FIDO_2_0", "FIDO_2_1_PRE", "FIDO_2_1"].
    pub versions: Vec<String>,
    /// 0x02, e.g. ["credProtect", "hmac-secret"].
    pub extensions: Vec<String>,
    /// 0x03, the model identifier.
    #[serde(serialize_with = "serialize_aaguid")]
    pub aaguid: [u8; 16],
    /// 0x04, e.g. {"rk": true, "clientPin": false, "credMgmt": true}.
    pub options: BTreeMap<String, bool>,
    /// 0x05
    pub max_msg_size: Option<u32>,
    /// 0x06, PIN/UV auth protocols in the key's order of preference.
    pub pin_uv_auth_protocols: Vec<u8>,
    /// 0x07
    pub max_credential_count_in_list: Option<u32>,
    /// 0x08
    pub max_credential_id_length: Option<u32>,
    /// 0x09, e.g. ["usb", "nfc"].
    pub transports: Vec<String>,
    /// 0x0A, COSE algorithm identifiers (alg field of each entry).
    pub algorithms: Vec<i64>,
    /// 0x0B
    pub max_serialized_large_blob_array: Option<u32>,
    /// 0x0C
    pub force_pin_change: bool,
    /// 0x0D, in Unicode code points; 4 when absent.
    pub min_pin_length: u8,
    /// 0x0E (in JSON as text, e.g. "5.7.4": [`firmware_version_text`]).
    #[serde(serialize_with = "serialize_firmware")]
    pub firmware_version: Option<u64>,
    /// 0x0F
    pub max_cred_blob_length: Option<u32>,
    /// 0x10
    pub max_rp_ids_for_set_min_pin_length: Option<u32>,
    /// 0x11
    pub preferred_platform_uv_attempts: Option<u32>,
    /// 0x12
    pub uv_modality: Option<u32>,
    /// 0x13, e.g. {"FIDO": 2}.
    pub certifications: BTreeMap<String, i64>,
    /// 0x14
    pub remaining_discoverable_credentials: Option<u32>,
    /// 0x15
    pub vendor_prototype_config_commands: Vec<u64>,
}

fn serialize_aaguid<S: serde::Serializer>(a: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_aaguid(a))
}

/// AAGUID in the canonical 8-4-4-4-12 lower-case form used by Entra and FIDO MDS.
pub fn format_aaguid(a: &[u8; 16]) -> String {
    let h = hex::encode(a);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl AuthenticatorInfo {
    /// The firmware version as people read it ("5.7.4"), when the key reports one.
    pub fn firmware_version_text(&self) -> Option<String> {
        self.firmware_version.map(firmware_version_text)
    }

    /// An option's value; `None` when the key does not list the option at all.
    pub fn option(&self, name: &str) -> Option<bool> {
        self.options.get(name).copied()
    }
    /// True when a PIN is set (`clientPin: true`).
    pub fn pin_is_set(&self) -> bool {
        self.option("clientPin") == Some(true)
    }
    /// Whether `versions` lists `v` (e.g. "FIDO_2_1").
    pub fn supports_version(&self, v: &str) -> bool {
        self.versions.iter().any(|x| x == v)
    }
    /// Whether `extensions` lists `e` (e.g. "hmac-secret").
    pub fn supports_extension(&self, e: &str) -> bool {
        self.extensions.iter().any(|x| x == e)
    }
    /// The AAGUID as 8-4-4-4-12 lower-case hex.
    pub fn aaguid_string(&self) -> String {
        format_aaguid(&self.aaguid)
    }
}

/// PIN/UV auth token permissions (CTAP 2.1 §6.5.5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(pub u8);
impl Permissions {
    /// mc: makeCredential.
    pub const MAKE_CREDENTIAL: Permissions = Permissions(0x01);
    /// ga: getAssertion.
    pub const GET_ASSERTION: Permissions = Permissions(0x02);
    /// cm: credential management.
    pub const CREDENTIAL_MANAGEMENT: Permissions = Permissions(0x04);
    /// be: bio enrollment.
    pub const BIO_ENROLLMENT: Permissions = Permissions(0x08);
    /// lbw: large blob write.
    pub const LARGE_BLOB_WRITE: Permissions = Permissions(0x10);
    /// acfg: authenticatorConfig.
    pub const AUTHENTICATOR_CONFIG: Permissions = Permissions(0x20);
    /// Both sets of permissions.
    pub fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }
}

/// PublicKeyCredentialRpEntity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpEntity {
    /// The RP id (a domain, e.g. "login.microsoft.com").
    pub id: String,
    /// Display name.
    pub name: Option<String>,
}

/// PublicKeyCredentialUserEntity. `id` is the opaque user handle (bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserEntity {
    /// The user handle.
    #[serde(with = "b64url_bytes")]
    pub id: Vec<u8>,
    /// Account name (e.g. the UPN).
    pub name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
}

/// COSE algorithm identifiers keystation asks for.
pub const COSE_ES256: i64 = -7;
/// EdDSA (Ed25519).
pub const COSE_EDDSA: i64 = -8;
/// RSASSA-PKCS1-v1_5 with SHA-256.
pub const COSE_RS256: i64 = -257;

/// authenticatorMakeCredential (0x01) input.
///
/// The caller supplies `client_data_hash` (SHA-256 of the exact clientDataJSON bytes
/// the relying party will see); the key layer never builds clientDataJSON itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeCredentialRequest {
    /// SHA-256 of the clientDataJSON.
    pub client_data_hash: [u8; 32],
    /// The relying party.
    pub rp: RpEntity,
    /// The account.
    pub user: UserEntity,
    /// COSE algorithms in order of preference (e.g. [-7, -257]).
    pub algorithms: Vec<i64>,
    /// Credential ids the key must refuse to duplicate.
    pub exclude_list: Vec<Vec<u8>>,
    /// Discoverable (resident) credential.
    pub resident_key: bool,
    /// Ask for user verification; satisfied with a PIN token when a PIN is given.
    pub user_verification: bool,
    /// credProtect level 1..=3 (extension input), when wanted.
    pub cred_protect: Option<u8>,
    /// hmac-secret extension input.
    pub hmac_secret: bool,
    /// enterpriseAttestation (1 = vendor-facilitated, 2 = platform-managed).
    pub enterprise_attestation: Option<u8>,
}

/// authenticatorMakeCredential output, kept raw enough to rebuild a WebAuthn
/// attestationObject byte-exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeCredentialResponse {
    /// 0x01 attestation statement format, e.g. "packed" or "none".
    pub fmt: String,
    /// 0x02 authenticator data, exactly as the key sent it.
    pub auth_data: Vec<u8>,
    /// 0x03 attestation statement: the key's CBOR bytes for this map, verbatim.
    pub att_stmt_cbor: Vec<u8>,
    /// 0x04 epAtt, when enterprise attestation was returned.
    pub enterprise_attestation: Option<bool>,
    /// Parsed from `auth_data` for convenience.
    pub credential_id: Vec<u8>,
    /// Parsed from `auth_data`: the AAGUID in the attested credential data.
    pub aaguid: [u8; 16],
    /// Parsed from `auth_data`: the credential public key as COSE_Key CBOR bytes.
    pub credential_public_key_cose: Vec<u8>,
    /// Parsed from `auth_data`: extension outputs (e.g. {"credProtect": 1, "hmac-secret": true}) as CBOR bytes.
    pub extensions_cbor: Option<Vec<u8>>,
    /// Parsed from `auth_data`: flags byte (UP=0x01, UV=0x04, AT=0x40, ED=0x80).
    pub flags: u8,
    /// Parsed from `auth_data`: the signature counter.
    pub sign_count: u32,
}

/// One discoverable credential as credential management lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCredential {
    /// The RP id, when the key reports it.
    pub rp_id: Option<String>,
    /// SHA-256 of the RP id.
    #[serde(with = "b64url_bytes")]
    pub rp_id_hash: Vec<u8>,
    /// The account the credential belongs to.
    pub user: UserEntity,
    /// The credential id.
    #[serde(with = "b64url_bytes")]
    pub credential_id: Vec<u8>,
    /// credProtect level (1..=3), when reported.
    pub cred_protect: Option<u8>,
}

/// getCredsMetadata result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CredentialsMetadata {
    /// Discoverable credentials stored.
    pub existing: u32,
    /// How many more fit (at most).
    pub remaining: u32,
}

/// PIN retries (clientPIN getPINRetries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PinRetries {
    /// PIN attempts left before the PIN is blocked.
    pub retries: u8,
    /// True when the key needs a power cycle before the next PIN attempt.
    pub power_cycle_required: Option<bool>,
}

/// Binary values in JSON (credential ids, user handles, hashes) are base64url without
/// padding, as WebAuthn and Microsoft Graph write credential ids (docs/json.md).
mod b64url_bytes {
    pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::credential_id_text(b))
    }
}

/// A credential id (or any binary id) as keystation writes it everywhere: base64url
/// without padding.
pub fn credential_id_text(id: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// A firmware version (getInfo 0x0E) as people read it: 0x050704 → "5.7.4"; values that
/// do not fit three bytes stay hexadecimal.
pub fn firmware_version_text(v: u64) -> String {
    if v <= 0xFF_FF_FF {
        format!("{}.{}.{}", (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF)
    } else {
        format!("0x{v:x}")
    }
}

fn serialize_firmware<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&firmware_version_text(*v)),
        None => s.serialize_none(),
    }
}
