//! App package and manifest validation (spec section 11).
//!
//! `parse_package` takes the uploaded zip: it first checks the archive itself (size, entry count,
//! entry names, encryption, declared and actual uncompressed sizes) and answers problems there with
//! `BadRequest` / `PayloadTooLarge`; then it validates `manifest.json` and the icons it names and
//! answers every manifest problem at once with `InvalidManifest` (Graph's
//! `UnableToParseTeamsAppManifest` details). `parse_manifest_value` applies the same manifest rules
//! to an inline manifest (tenant fixtures), without icons and with an optional `developer`.

use std::collections::HashSet;
use std::io::{self, Cursor, Read, Write};

use serde_json::{Map, Value};
use teamsapps_wire::error::ErrorDetail;
use zip::result::ZipError;
use zip::ZipArchive;

use crate::error::{CoreError, CoreResult};
use crate::model::{AllowedScopes, PermissionType, ResourceSpecificPermission};

/// Zip upload limit.
pub const MAX_PACKAGE_BYTES: usize = 16 * 1024 * 1024;
/// `manifest.json` uncompressed limit.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;
/// Any other entry, uncompressed.
pub const MAX_ENTRY_BYTES: u64 = 4 * 1024 * 1024;
/// Zip bomb bound: all entries together, uncompressed.
pub const MAX_TOTAL_UNCOMPRESSED: u64 = 64 * 1024 * 1024;
/// Most entries a package may hold.
pub const MAX_ENTRIES: usize = 64;

/// Size of the color icon (`InvalidColorIconHeightAndWidth`).
pub const COLOR_ICON_SIZE: u32 = 192;
/// Size of the outline icon (`InvalidOutlineIconHeightAndWidth`).
pub const OUTLINE_ICON_SIZE: u32 = 32;
/// Most RSC permissions a manifest may declare.
pub const MAX_RSC_PERMISSIONS: usize = 16;

/// The pattern every developer URL must match (quoted in `SchemaError_Pattern` messages).
pub const URL_PATTERN: &str = "^[Hh][Tt][Tt][Pp][Ss]?://";
/// The GUID pattern of the manifest schema (quoted in `SchemaError_Pattern` messages).
pub const GUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

const MANIFEST_FILE: &str = "manifest.json";
/// Bytes kept of entries other than the manifest: enough for the PNG signature and IHDR.
const PREFIX_KEEP: usize = 32;
const MANIFEST_KEEP: usize = 1024 * 1024 + 1;
/// Values quoted in messages are cut to this many characters.
const QUOTE_MAX_CHARS: usize = 200;
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// What a definition takes from a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionContent {
    /// `name.short`
    pub display_name: String,
    /// `description.short`
    pub short_description: String,
    /// `description.full`
    pub description: String,
    /// `webApplicationInfo.id`
    pub client_app_id: Option<String>,
    /// `authorization.permissions.resourceSpecific` (name -> permissionValue, type -> PermissionType)
    pub required_permissions: Vec<ResourceSpecificPermission>,
    /// `bots[0].botId`
    pub bot_id: Option<String>,
    /// Union of the scopes of bots, staticTabs, configurableTabs and composeExtensions; personal
    /// only when that union is empty (no capability, or capabilities without scopes).
    pub allowed_scopes: AllowedScopes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPackage {
    /// The manifest `id`, exactly as given in the manifest.
    pub manifest_id: String,
    pub version: String,
    pub content: DefinitionContent,
}

/// Full validation of an uploaded zip package (publish / update).
///
/// - Archive problems (not a zip, corrupt or truncated, more than [`MAX_ENTRIES`] entries, an
///   entry over its uncompressed limit by its header or by what it actually inflates to, more than
///   [`MAX_TOTAL_UNCOMPRESSED`] in total, path tricks in entry names, encrypted entries):
///   `CoreError::BadRequest`.
/// - More than [`MAX_PACKAGE_BYTES`]: `CoreError::PayloadTooLarge`.
/// - Manifest problems: `CoreError::InvalidManifest` with every problem found.
pub fn parse_package(bytes: &[u8]) -> CoreResult<AppPackage> {
    let files = read_package(bytes)?;
    let Some(manifest_bytes) = files.manifest.as_deref() else {
        return Err(CoreError::InvalidManifest(vec![detail(
            "Serialization_FileMissing",
            MANIFEST_FILE,
            "The app package has no manifest.json at its root.",
        )]));
    };
    let manifest = parse_manifest_json(manifest_bytes)?;
    validate(&manifest, Some(&files))
}

/// The two icon files a package's manifest names (`icons.color`, `icons.outline`), whole, for a
/// package [`parse_package`] accepted (so both exist and are within the entry limits).
pub fn package_icons(bytes: &[u8]) -> CoreResult<Vec<crate::model::DefinitionIcon>> {
    use crate::model::{DefinitionIcon, IconKind};
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    let read = |archive: &mut ZipArchive<Cursor<&[u8]>>, name: &str, limit: u64| {
        let mut out = Vec::new();
        let file = archive.by_name(name).map_err(zip_error)?;
        io::copy(&mut file.take(limit), &mut out)
            .map_err(|e| bad_request(format!("The app package is corrupt: {e}.")))?;
        CoreResult::Ok(out)
    };
    let Some(manifest_name) = names.iter().find(|n| is_root_manifest(n)).cloned() else {
        return Ok(Vec::new());
    };
    let manifest = parse_manifest_json(&read(&mut archive, &manifest_name, MAX_MANIFEST_BYTES)?)?;
    let get = |obj: &Map<String, Value>, key: &str| {
        obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.clone())
    };
    let icons = manifest.as_object().and_then(|m| get(m, "icons"));
    let mut out = Vec::new();
    for kind in [IconKind::Color, IconKind::Outline] {
        let path = icons.as_ref().and_then(|i| i.as_object()).and_then(|i| get(i, kind.as_str()));
        let Some(path) = path.as_ref().and_then(Value::as_str) else { continue };
        let path = normalized(path);
        let entry = names
            .iter()
            .find(|n| normalized(n) == path)
            .or_else(|| names.iter().find(|n| normalized(n).eq_ignore_ascii_case(path)))
            .cloned();
        let Some(entry) = entry else { continue };
        let bytes = read(&mut archive, &entry, MAX_ENTRY_BYTES)?;
        let content_type = if bytes.starts_with(&PNG_SIGNATURE) {
            "image/png"
        } else {
            "application/octet-stream"
        };
        out.push(DefinitionIcon { kind, content_type: content_type.into(), bytes });
    }
    Ok(out)
}

/// Validation of a manifest given as JSON (tenant fixtures ship manifests inline, without a zip
/// and icons): the rules of [`parse_package`] except that icon files are not checked and
/// `developer` may be absent.
pub fn parse_manifest_value(manifest: &Value) -> CoreResult<AppPackage> {
    validate(manifest, None)
}

/// Parses `manifest.json` bytes (a UTF-8 BOM is skipped). Invalid JSON is an `InvalidManifest`
/// error with `Serialization_FileNotValidJson` or `Serialization_TrailingCommaInManifestJsonFile`.
pub fn parse_manifest_json(bytes: &[u8]) -> CoreResult<Value> {
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(bytes);
    serde_json::from_slice(bytes).map_err(|e| {
        let text = e.to_string();
        let found = if text.starts_with("trailing comma") {
            detail(
                "Serialization_TrailingCommaInManifestJsonFile",
                MANIFEST_FILE,
                format!("manifest.json has a trailing comma, which JSON does not allow: {text}."),
            )
        } else {
            detail(
                "Serialization_FileNotValidJson",
                MANIFEST_FILE,
                format!("manifest.json is not valid JSON: {text}."),
            )
        };
        CoreError::InvalidManifest(vec![found])
    })
}

/// Width and height from a PNG's IHDR chunk, or `None` when the bytes are not a PNG.
pub fn png_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.get(0..8)? != PNG_SIGNATURE || bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
    let height = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
    Some((width, height))
}

/// Whether `s` is a hyphenated GUID (`8-4-4-4-12` hex digits, any case).
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8usize, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

// --- The archive ------------------------------------------------------------------------------

/// What the manifest checks need from an archive that passed the structural checks.
struct PackageFiles {
    /// The root `manifest.json`, whole.
    manifest: Option<Vec<u8>>,
    /// Every other entry: its name and its first bytes.
    others: Vec<(String, Vec<u8>)>,
}

impl PackageFiles {
    /// The entry a manifest path names: exact match first, then ignoring ASCII case.
    fn find(&self, path: &str) -> Option<&[u8]> {
        let path = normalized(path);
        self.others
            .iter()
            .find(|(name, _)| normalized(name) == path)
            .or_else(|| {
                self.others.iter().find(|(name, _)| normalized(name).eq_ignore_ascii_case(path))
            })
            .map(|(_, prefix)| prefix.as_slice())
    }
}

fn normalized(name: &str) -> &str {
    name.trim_start_matches("./")
}

fn is_root_manifest(name: &str) -> bool {
    normalized(name).eq_ignore_ascii_case(MANIFEST_FILE)
}

struct EntryMeta {
    name: String,
    limit: u64,
}

fn read_package(bytes: &[u8]) -> CoreResult<PackageFiles> {
    if bytes.len() > MAX_PACKAGE_BYTES {
        return Err(CoreError::PayloadTooLarge(format!(
            "The app package is {} bytes; the limit is 16 MiB ({MAX_PACKAGE_BYTES} bytes).",
            bytes.len()
        )));
    }
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
    if archive.len() > MAX_ENTRIES {
        return Err(bad_request(format!(
            "The app package has {} entries; the limit is {MAX_ENTRIES}.",
            archive.len()
        )));
    }

    // Pass 1: headers only. Names, encryption and declared sizes.
    let mut metas = Vec::with_capacity(archive.len());
    let mut declared_total: u64 = 0;
    for index in 0..archive.len() {
        let file = archive.by_index_raw(index).map_err(zip_error)?;
        let name = file.name().to_string();
        check_entry_name(&name)?;
        if file.encrypted() {
            return Err(bad_request(format!(
                "The app package entry \"{}\" is encrypted; encrypted entries are not supported.",
                quote(&name)
            )));
        }
        let limit = if is_root_manifest(&name) { MAX_MANIFEST_BYTES } else { MAX_ENTRY_BYTES };
        if file.size() > limit {
            return Err(entry_too_large(&name, file.size(), limit, true));
        }
        declared_total = declared_total.saturating_add(file.size());
        if declared_total > MAX_TOTAL_UNCOMPRESSED {
            return Err(total_too_large());
        }
        metas.push(EntryMeta { name, limit });
    }

    let manifest_index = metas
        .iter()
        .position(|m| normalized(&m.name) == MANIFEST_FILE)
        .or_else(|| metas.iter().position(|m| is_root_manifest(&m.name)));

    // Pass 2: inflate every entry through a bounded reader; headers are not trusted.
    let mut files = PackageFiles { manifest: None, others: Vec::with_capacity(metas.len()) };
    let mut total: u64 = 0;
    for (index, meta) in metas.into_iter().enumerate() {
        let is_manifest = manifest_index == Some(index);
        let file = archive.by_index(index).map_err(zip_error)?;
        let remaining = MAX_TOTAL_UNCOMPRESSED.saturating_sub(total);
        let cap = meta.limit.min(remaining);
        let mut sink = PrefixSink::new(if is_manifest { MANIFEST_KEEP } else { PREFIX_KEEP });
        io::copy(&mut file.take(cap.saturating_add(1)), &mut sink).map_err(|e| {
            bad_request(format!(
                "The app package is corrupt: entry \"{}\" could not be read ({e}).",
                quote(&meta.name)
            ))
        })?;
        if sink.seen > meta.limit {
            return Err(entry_too_large(&meta.name, sink.seen, meta.limit, false));
        }
        if sink.seen > remaining {
            return Err(total_too_large());
        }
        total = total.saturating_add(sink.seen);
        if is_manifest {
            files.manifest = Some(sink.buf);
        } else {
            files.others.push((meta.name, sink.buf));
        }
    }
    Ok(files)
}

/// Rejects entry names that could escape a directory when extracted.
fn check_entry_name(name: &str) -> CoreResult<()> {
    let problem = if name.is_empty() {
        Some("is empty")
    } else if name.contains('\\') {
        Some("contains a backslash")
    } else if name.starts_with('/') {
        Some("is an absolute path")
    } else if name.contains(':') {
        Some("contains a drive letter or colon")
    } else if name.split('/').any(|segment| segment == "..") {
        Some("contains a \"..\" path segment")
    } else if name.chars().any(char::is_control) {
        Some("contains control characters")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(bad_request(format!(
            "The app package entry name \"{}\" {problem}; entry names must be relative paths \
             without \"..\", backslashes or drive letters.",
            quote(name)
        ))),
        None => Ok(()),
    }
}

fn zip_error(error: ZipError) -> CoreError {
    match error {
        ZipError::UnsupportedArchive(what) if what == ZipError::PASSWORD_REQUIRED => bad_request(
            "The app package has encrypted entries; encrypted entries are not supported.",
        ),
        ZipError::UnsupportedArchive(what) => {
            bad_request(format!("The app package uses an unsupported zip feature: {what}."))
        }
        ZipError::Io(e) => bad_request(format!(
            "The app package is not a valid zip archive (it is corrupt or truncated): {e}."
        )),
        other => bad_request(format!("The app package is not a valid zip archive: {other}.")),
    }
}

/// `declared`: the header's size; otherwise the bounded read only knows the entry is over.
fn entry_too_large(name: &str, size: u64, limit: u64, declared: bool) -> CoreError {
    let size = if declared { format!("{size} bytes") } else { format!("more than {limit} bytes") };
    bad_request(format!(
        "The app package entry \"{}\" is {size} uncompressed; the limit is {} ({limit} bytes).",
        quote(name),
        mib(limit)
    ))
}

fn total_too_large() -> CoreError {
    bad_request(format!(
        "The app package expands to more than {} ({MAX_TOTAL_UNCOMPRESSED} bytes) uncompressed; \
         it is rejected as a possible zip bomb.",
        mib(MAX_TOTAL_UNCOMPRESSED)
    ))
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

fn bad_request(message: impl Into<String>) -> CoreError {
    CoreError::BadRequest(message.into())
}

/// Counts everything written and keeps only the first `keep` bytes.
struct PrefixSink {
    keep: usize,
    buf: Vec<u8>,
    seen: u64,
}

impl PrefixSink {
    fn new(keep: usize) -> Self {
        PrefixSink { keep, buf: Vec::new(), seen: 0 }
    }
}

impl Write for PrefixSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.keep.saturating_sub(self.buf.len());
        if let Some(kept) = data.get(..room.min(data.len())) {
            self.buf.extend_from_slice(kept);
        }
        self.seen = self.seen.saturating_add(data.len() as u64);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// --- The manifest -----------------------------------------------------------------------------

fn detail(code: &str, target: impl Into<String>, message: impl Into<String>) -> ErrorDetail {
    ErrorDetail { code: code.to_string(), message: message.into(), target: target.into() }
}

/// A value for a message, cut to a readable length.
fn quote(s: &str) -> String {
    if s.chars().count() > QUOTE_MAX_CHARS {
        let mut cut: String = s.chars().take(QUOTE_MAX_CHARS).collect();
        cut.push('…');
        cut
    } else {
        s.to_string()
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Collects every problem of one manifest.
#[derive(Default)]
struct Problems {
    details: Vec<ErrorDetail>,
}

impl Problems {
    fn add(&mut self, code: &str, target: impl Into<String>, message: impl Into<String>) {
        self.details.push(detail(code, target, message));
    }

    fn wrong_type(&mut self, target: impl Into<String>, expected: &str, got: &Value) {
        self.add(
            "SchemaError_Type",
            target,
            format!("Invalid type. Expected {expected} but got {}.", json_type(got)),
        );
    }

    fn required(&mut self, target: impl Into<String>, missing: &[&str]) {
        self.add(
            "SchemaError_Required",
            target,
            format!("Required properties are missing from object: [{}].", missing.join(", ")),
        );
    }

    fn max_length(&mut self, target: impl Into<String>, value: &str, max: usize) {
        self.add(
            "SchemaError_MaximumLength",
            target,
            format!("String \"{}\" exceeds maximum length of {max}.", quote(value)),
        );
    }

    fn pattern(&mut self, target: impl Into<String>, value: &str, pattern: &str) {
        self.add(
            "SchemaError_Pattern",
            target,
            format!("String \"{}\" does not match regex pattern \"{pattern}\".", quote(value)),
        );
    }

    fn not_in_enum(&mut self, target: impl Into<String>, value: &str) {
        self.add(
            "SchemaError_Enum",
            target,
            format!("Value \"{}\" is not defined in enum.", quote(value)),
        );
    }

    /// A property of `obj`: `None` when absent or null.
    fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
        obj.get(key).filter(|v| !v.is_null())
    }

    /// A string property; `Err(())` when present with another type (already reported).
    fn string<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        target: &str,
    ) -> Result<Option<&'a str>, ()> {
        match Self::get(obj, key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => {
                self.wrong_type(target, "String", other);
                Err(())
            }
        }
    }

    /// An object property; `None` when absent or of another type (reported).
    fn object<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        target: &str,
    ) -> Option<&'a Map<String, Value>> {
        match Self::get(obj, key) {
            None => None,
            Some(Value::Object(o)) => Some(o),
            Some(other) => {
                self.wrong_type(target, "Object", other);
                None
            }
        }
    }

    /// An array property; `None` when absent or of another type (reported).
    fn array<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        target: &str,
    ) -> Option<&'a [Value]> {
        match Self::get(obj, key) {
            None => None,
            Some(Value::Array(a)) => Some(a.as_slice()),
            Some(other) => {
                self.wrong_type(target, "Array", other);
                None
            }
        }
    }
}

/// A known `manifestVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ManifestVersion {
    /// `1.{minor}`
    V1(u32),
    DevPreview,
}

impl ManifestVersion {
    /// `1.5`..`1.22` without `1.18` (which does not exist), and `devPreview`.
    fn parse(s: &str) -> Option<Self> {
        if s == "devPreview" {
            return Some(Self::DevPreview);
        }
        let minor = s.strip_prefix("1.")?;
        if minor.is_empty()
            || minor.len() > 2
            || minor.starts_with('0')
            || !minor.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let minor: u32 = minor.parse().ok()?;
        ((5..=22).contains(&minor) && minor != 18).then_some(Self::V1(minor))
    }

    fn supports_authorization(self) -> bool {
        match self {
            Self::V1(minor) => minor >= 12,
            Self::DevPreview => true,
        }
    }
}

/// Control characters (NUL and the like; tab, newline and carriage return are text) in any
/// string or key: no store can keep them faithfully, and no real manifest has them.
fn check_control_characters(p: &mut Problems, value: &Value, path: &str) {
    let bad = |s: &str| s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match value {
        Value::String(s) if bad(s) => p.add(
            "SchemaError_Pattern",
            if path.is_empty() { MANIFEST_FILE.to_string() } else { path.to_string() },
            "String contains control characters, which are not allowed.",
        ),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_control_characters(p, item, &format!("{path}[{i}]"));
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if bad(key) {
                    p.add(
                        "SchemaError_AdditionalProperties",
                        join(&key.escape_default().to_string()),
                        "Property name contains control characters, which are not allowed.",
                    );
                } else {
                    check_control_characters(p, item, &join(key));
                }
            }
        }
        _ => {}
    }
}

fn validate(manifest: &Value, files: Option<&PackageFiles>) -> CoreResult<AppPackage> {
    let Value::Object(root) = manifest else {
        return Err(CoreError::InvalidManifest(vec![detail(
            "SchemaError_Type",
            MANIFEST_FILE,
            format!("Invalid type. Expected Object but got {}.", json_type(manifest)),
        )]));
    };
    let mut p = Problems::default();
    check_control_characters(&mut p, manifest, "");

    let manifest_version = check_manifest_version(&mut p, root);
    let manifest_id = check_id(&mut p, root);
    let version = check_version(&mut p, root);
    let display_name = check_name(&mut p, root);
    let descriptions = check_description(&mut p, root);
    match Problems::get(root, "developer") {
        Some(_) => check_developer(&mut p, root),
        None if files.is_some() => p.required("developer", &["developer"]),
        None => {}
    }
    if let Some(files) = files {
        check_icons(&mut p, root, files);
    }
    let client_app_id = check_web_application_info(&mut p, root);
    let required_permissions = check_authorization(&mut p, root, manifest_version);
    let (bot_id, allowed_scopes) = check_capabilities(&mut p, root);

    if !p.details.is_empty() {
        return Err(CoreError::InvalidManifest(p.details));
    }
    match (manifest_id, version, display_name, descriptions) {
        (
            Some(manifest_id),
            Some(version),
            Some(display_name),
            Some((short_description, description)),
        ) => Ok(AppPackage {
            manifest_id,
            version,
            content: DefinitionContent {
                display_name,
                short_description,
                description,
                client_app_id,
                required_permissions,
                bot_id,
                allowed_scopes,
            },
        }),
        // Every path that leaves one of these empty reports a problem; this is a safety net.
        _ => Err(CoreError::InvalidManifest(vec![detail(
            "SchemaError_Other",
            MANIFEST_FILE,
            "The manifest could not be read.",
        )])),
    }
}

fn check_manifest_version(p: &mut Problems, root: &Map<String, Value>) -> Option<ManifestVersion> {
    match p.string(root, "manifestVersion", "manifestVersion") {
        Ok(None) => {
            p.add(
                "Serialization_ManifestVersionPropertyMissing",
                "manifestVersion",
                "The manifest has no manifestVersion property.",
            );
            None
        }
        Ok(Some(s)) => {
            let parsed = ManifestVersion::parse(s);
            if parsed.is_none() {
                p.not_in_enum("manifestVersion", s);
            }
            parsed
        }
        Err(()) => None,
    }
}

fn check_id(p: &mut Problems, root: &Map<String, Value>) -> Option<String> {
    match p.string(root, "id", "id") {
        Ok(None) | Ok(Some("")) => {
            p.add(
                "CommonAppIdIsRequiredField",
                "id",
                "The app id (\"id\") is required in the manifest.",
            );
            None
        }
        Ok(Some(id)) if !is_guid(id) => {
            p.add(
                "CommonAppIdIsNotGuid",
                "id",
                format!("The app id \"{}\" is not a GUID.", quote(id)),
            );
            None
        }
        Ok(Some(id)) => Some(id.to_string()),
        Err(()) => None,
    }
}

fn check_version(p: &mut Problems, root: &Map<String, Value>) -> Option<String> {
    match p.string(root, "version", "version") {
        Ok(None) | Ok(Some("")) => {
            p.add(
                "VersionCannotBeEmpty",
                "version",
                "The app version (\"version\") cannot be empty.",
            );
            None
        }
        Ok(Some(v)) => match crate::version::segments(v) {
            None => {
                p.add(
                    "VersionContainsOnlyNumbersDotSeparated",
                    "version",
                    format!(
                        "The app version \"{}\" must contain only numbers separated by dots \
                         (MAJOR.MINOR.PATCH).",
                        quote(v)
                    ),
                );
                None
            }
            Some([major, _, _]) if major < 1 => {
                p.add(
                    "VersionHasMajorLessThan1",
                    "version",
                    format!(
                        "The app version \"{}\" must have a major version of at least 1.",
                        quote(v)
                    ),
                );
                None
            }
            Some(_) => Some(v.to_string()),
        },
        Err(()) => None,
    }
}

fn check_name(p: &mut Problems, root: &Map<String, Value>) -> Option<String> {
    if Problems::get(root, "name").is_none() {
        p.required("name", &["name"]);
        return None;
    }
    let name = p.object(root, "name", "name")?;
    let short = match p.string(name, "short", "name.short") {
        Ok(Some(s)) if !s.trim().is_empty() => {
            let len = s.chars().count();
            if len > 30 {
                p.add(
                    "ShortNameLengthCheck",
                    "name.short",
                    format!(
                        "The short name of the app must be at most 30 characters; it has {len}."
                    ),
                );
                None
            } else {
                Some(s.to_string())
            }
        }
        Ok(_) => {
            p.add(
                "ShortNameIsRequiredField",
                "name.short",
                "The short name of the app (name.short) is required.",
            );
            None
        }
        Err(()) => None,
    };
    if let Ok(Some(full)) = p.string(name, "full", "name.full") {
        if full.chars().count() > 100 {
            p.max_length("name.full", full, 100);
        }
    }
    short
}

fn check_description(p: &mut Problems, root: &Map<String, Value>) -> Option<(String, String)> {
    if Problems::get(root, "description").is_none() {
        p.required("description", &["description"]);
        return None;
    }
    let description = p.object(root, "description", "description")?;
    let short = match p.string(description, "short", "description.short") {
        Ok(Some(s)) if !s.trim().is_empty() => {
            let len = s.chars().count();
            if len > 80 {
                p.add(
                    "ShortDescriptionLengthCheck",
                    "description.short",
                    format!("The short description must be at most 80 characters; it has {len}."),
                );
                None
            } else {
                Some(s.to_string())
            }
        }
        Ok(_) => {
            p.add(
                "ShortDescriptionCannotBeEmpty",
                "description.short",
                "The short description (description.short) cannot be empty.",
            );
            None
        }
        Err(()) => None,
    };
    let full = match p.string(description, "full", "description.full") {
        Ok(Some(s)) if !s.trim().is_empty() => {
            let len = s.chars().count();
            if len > 4000 {
                p.add(
                    "FullDescriptionLengthCheck",
                    "description.full",
                    format!("The full description must be at most 4000 characters; it has {len}."),
                );
                None
            } else {
                Some(s.to_string())
            }
        }
        Ok(_) => {
            p.add(
                "FullDescriptionCannotBeEmpty",
                "description.full",
                "The full description (description.full) cannot be empty.",
            );
            None
        }
        Err(()) => None,
    };
    short.zip(full)
}

fn check_developer(p: &mut Problems, root: &Map<String, Value>) {
    let Some(developer) = p.object(root, "developer", "developer") else {
        return;
    };
    let missing: Vec<&str> = ["name", "websiteUrl", "privacyUrl", "termsOfUseUrl"]
        .into_iter()
        .filter(|key| Problems::get(developer, key).is_none())
        .collect();
    if !missing.is_empty() {
        p.required("developer", &missing);
    }
    if let Ok(Some(name)) = p.string(developer, "name", "developer.name") {
        if name.is_empty() {
            p.add(
                "SchemaError_MinimumLength",
                "developer.name",
                "String \"\" is less than minimum length of 1.",
            );
        } else if name.chars().count() > 32 {
            p.max_length("developer.name", name, 32);
        }
    }
    for key in ["websiteUrl", "privacyUrl", "termsOfUseUrl"] {
        let target = format!("developer.{key}");
        if let Ok(Some(url)) = p.string(developer, key, &target) {
            if !is_http_url(url) {
                p.pattern(target, url, URL_PATTERN);
            }
        }
    }
}

/// `^[Hh][Tt][Tt][Pp][Ss]?://`
fn is_http_url(url: &str) -> bool {
    let bytes = url.as_bytes();
    let Some(scheme) = bytes.get(..4) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(b"http") {
        return false;
    }
    let rest = match bytes.get(4) {
        Some(b's' | b'S') => bytes.get(5..),
        _ => bytes.get(4..),
    };
    rest.is_some_and(|rest| rest.starts_with(b"://"))
}

fn check_icons(p: &mut Problems, root: &Map<String, Value>, files: &PackageFiles) {
    if Problems::get(root, "icons").is_none() {
        p.required("icons", &["icons"]);
        return;
    }
    let Some(icons) = p.object(root, "icons", "icons") else {
        return;
    };
    let missing: Vec<&str> = ["color", "outline"]
        .into_iter()
        .filter(|key| Problems::get(icons, key).is_none())
        .collect();
    if !missing.is_empty() {
        p.required("icons", &missing);
    }
    for (key, size, code, what) in [
        ("color", COLOR_ICON_SIZE, "InvalidColorIconHeightAndWidth", "color"),
        ("outline", OUTLINE_ICON_SIZE, "InvalidOutlineIconHeightAndWidth", "outline"),
    ] {
        let target = format!("icons.{key}");
        let Ok(Some(path)) = p.string(icons, key, &target) else {
            continue;
        };
        let Some(bytes) = files.find(path) else {
            p.add(
                "Serialization_FileMissing",
                target,
                format!(
                    "The file \"{}\" named in icons.{key} is missing from the app package.",
                    quote(path)
                ),
            );
            continue;
        };
        match png_dimensions(bytes) {
            Some((w, h)) if w == size && h == size => {}
            Some((w, h)) => p.add(
                code,
                target,
                format!("The {what} icon \"{}\" must be a {size}x{size} PNG image; it is {w}x{h}.", quote(path)),
            ),
            None => p.add(
                code,
                target,
                format!(
                    "The {what} icon \"{}\" must be a {size}x{size} PNG image; it is not a PNG image.",
                    quote(path)
                ),
            ),
        }
    }
}

fn check_web_application_info(p: &mut Problems, root: &Map<String, Value>) -> Option<String> {
    let info = p.object(root, "webApplicationInfo", "webApplicationInfo")?;
    let _ = p.string(info, "resource", "webApplicationInfo.resource");
    match p.string(info, "id", "webApplicationInfo.id") {
        Ok(Some(id)) if is_guid(id) => Some(id.to_string()),
        Ok(Some(id)) => {
            p.pattern("webApplicationInfo.id", id, GUID_PATTERN);
            None
        }
        _ => None,
    }
}

fn check_authorization(
    p: &mut Problems,
    root: &Map<String, Value>,
    manifest_version: Option<ManifestVersion>,
) -> Vec<ResourceSpecificPermission> {
    let mut out = Vec::new();
    if Problems::get(root, "authorization").is_none() {
        return out;
    }
    if manifest_version.is_some_and(|v| !v.supports_authorization()) {
        p.add(
            "SchemaError_AdditionalProperties",
            "authorization",
            "Property \"authorization\" has not been defined and the schema does not allow additional \
             properties (it needs manifestVersion 1.12 or later).",
        );
    }
    let Some(authorization) = p.object(root, "authorization", "authorization") else {
        return out;
    };
    let Some(permissions) = p.object(authorization, "permissions", "authorization.permissions")
    else {
        return out;
    };
    let base = "authorization.permissions.resourceSpecific";
    let Some(items) = p.array(permissions, "resourceSpecific", base) else {
        return out;
    };
    if items.len() > MAX_RSC_PERMISSIONS {
        p.add(
            "SchemaError_MaximumItems",
            base,
            format!(
                "Array item count {} exceeds maximum count of {MAX_RSC_PERMISSIONS}.",
                items.len()
            ),
        );
    }
    let mut seen = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let target = format!("{base}[{index}]");
        let Value::Object(item) = item else {
            p.wrong_type(target, "Object", item);
            continue;
        };
        let missing: Vec<&str> =
            ["name", "type"].into_iter().filter(|key| Problems::get(item, key).is_none()).collect();
        if !missing.is_empty() {
            p.required(target.clone(), &missing);
        }
        let name = match p.string(item, "name", &join_path(&target, "name")) {
            Ok(Some("")) => {
                p.add(
                    "SchemaError_MinimumLength",
                    join_path(&target, "name"),
                    "String \"\" is less than minimum length of 1.",
                );
                None
            }
            Ok(Some(name)) if name.chars().count() > 128 => {
                p.max_length(join_path(&target, "name"), name, 128);
                None
            }
            Ok(name) => name,
            Err(()) => None,
        };
        let kind = match p.string(item, "type", &join_path(&target, "type")) {
            Ok(Some(kind)) => {
                let parsed = PermissionType::parse(kind);
                if parsed.is_none() {
                    p.not_in_enum(join_path(&target, "type"), kind);
                }
                parsed
            }
            _ => None,
        };
        if let (Some(name), Some(kind)) = (name, kind) {
            if !seen.insert((name.to_ascii_lowercase(), kind)) {
                p.add(
                    "SchemaError_UniqueItems",
                    base,
                    format!("Non-unique array item at index {index}."),
                );
                continue;
            }
            out.push(ResourceSpecificPermission {
                permission_value: name.to_string(),
                permission_type: kind,
            });
        }
    }
    out
}

/// Bots, tabs and message extensions: the bot id and the union of their scopes.
fn check_capabilities(
    p: &mut Problems,
    root: &Map<String, Value>,
) -> (Option<String>, AllowedScopes) {
    let mut scopes = AllowedScopes::default();
    let mut bot_id = None;

    if let Some(bots) = p.array(root, "bots", "bots") {
        for (index, bot) in bots.iter().enumerate() {
            let target = format!("bots[{index}]");
            let Value::Object(bot) = bot else {
                p.wrong_type(target, "Object", bot);
                continue;
            };
            let missing: Vec<&str> = ["botId", "scopes"]
                .into_iter()
                .filter(|key| Problems::get(bot, key).is_none())
                .collect();
            if !missing.is_empty() {
                p.required(target.clone(), &missing);
            }
            let id_target = join_path(&target, "botId");
            if let Ok(Some(id)) = p.string(bot, "botId", &id_target) {
                if !is_guid(id) {
                    p.add(
                        "BotIdIsNotGuid",
                        id_target,
                        format!("The bot id \"{}\" is not a GUID.", quote(id)),
                    );
                } else if index == 0 {
                    bot_id = Some(id.to_string());
                }
            }
            check_scopes(p, bot, &target, &mut scopes);
        }
    }
    for key in ["staticTabs", "configurableTabs", "composeExtensions"] {
        let Some(items) = p.array(root, key, key) else {
            continue;
        };
        for (index, item) in items.iter().enumerate() {
            let target = format!("{key}[{index}]");
            match item {
                Value::Object(item) => check_scopes(p, item, &target, &mut scopes),
                other => p.wrong_type(target, "Object", other),
            }
        }
    }

    if scopes == AllowedScopes::default() {
        scopes.personal = true;
    }
    (bot_id, scopes)
}

fn check_scopes(
    p: &mut Problems,
    item: &Map<String, Value>,
    target: &str,
    scopes: &mut AllowedScopes,
) {
    let target = join_path(target, "scopes");
    let Some(values) = p.array(item, "scopes", &target) else {
        return;
    };
    for (index, value) in values.iter().enumerate() {
        let target = format!("{target}[{index}]");
        let Value::String(scope) = value else {
            p.wrong_type(target, "String", value);
            continue;
        };
        match scope.to_ascii_lowercase().as_str() {
            "personal" => scopes.personal = true,
            "team" => scopes.team = true,
            "groupchat" => scopes.group_chat = true,
            _ => p.not_in_enum(target, scope),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_anywhere_are_refused() {
        let mut m = serde_json::json!({
            "manifestVersion": "1.17", "id": "b5561ec9-8cab-4aa3-8aa2-d8d7172e4311", "version": "1.0.0",
            "name": {"short": "Nul\u{0}name"}, "description": {"short": "s", "full": "line one\nline two"}
        });
        let err = super::parse_manifest_value(&m).unwrap_err();
        match err {
            crate::CoreError::InvalidManifest(d) => {
                assert!(
                    d.iter().any(|d| d.target == "name.short" && d.code == "SchemaError_Pattern"),
                    "{d:?}"
                )
            }
            other => panic!("{other:?}"),
        }
        m["name"]["short"] = serde_json::json!("Fine");
        assert!(super::parse_manifest_value(&m).is_ok(), "newlines are text");
    }

    use super::*;
    use serde_json::json;
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    const APP_ID: &str = "7f0e4e2a-1b8a-4c41-9b4e-2d5f3c1a9e10";
    const BOT_ID: &str = "2a8b0e5c-6d3f-4e7a-8b1c-9d0e1f2a3b4c";
    const AAD_ID: &str = "00000000-1111-2222-3333-444444444444";

    /// A minimal PNG: signature, IHDR with the given size (CRC not computed), IEND.
    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = PNG_SIGNATURE.to_vec();
        out.extend_from_slice(&13u32.to_be_bytes());
        out.extend_from_slice(b"IHDR");
        out.extend_from_slice(&width.to_be_bytes());
        out.extend_from_slice(&height.to_be_bytes());
        out.extend_from_slice(&[8, 6, 0, 0, 0]);
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(b"IEND");
        out.extend_from_slice(&[0xAE, 0x42, 0x60, 0x82]);
        out
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, data) in entries {
            writer.start_file(*name, options).expect("start entry");
            writer.write_all(data).expect("write entry");
        }
        writer.finish().expect("finish zip").into_inner()
    }

    fn manifest() -> Value {
        json!({
            "$schema": "https://developer.microsoft.com/json-schemas/teams/v1.16/MicrosoftTeams.schema.json",
            "manifestVersion": "1.16",
            "id": APP_ID,
            "version": "1.0.3",
            "developer": {
                "name": "Contoso",
                "websiteUrl": "https://contoso.example",
                "privacyUrl": "https://contoso.example/privacy",
                "termsOfUseUrl": "HTTP://contoso.example/terms"
            },
            "name": {"short": "Contoso Tasks", "full": "Contoso Tasks for Teams"},
            "description": {"short": "Track tasks", "full": "Track your team's tasks in Teams."},
            "icons": {"color": "color.png", "outline": "outline.png"},
            "accentColor": "#FFFFFF",
            "bots": [{"botId": BOT_ID, "scopes": ["personal", "groupchat"]}],
            "configurableTabs": [{"configurationUrl": "https://contoso.example/config", "scopes": ["team"]}],
            "webApplicationInfo": {"id": AAD_ID, "resource": "api://contoso.example"},
            "authorization": {"permissions": {"resourceSpecific": [
                {"name": "ChannelMessage.Read.Group", "type": "Application"},
                {"name": "TeamsActivity.Send.User", "type": "delegated"}
            ]}}
        })
    }

    fn package_with(manifest: &Value, color: &[u8], outline: &[u8]) -> Vec<u8> {
        let text = serde_json::to_vec_pretty(manifest).expect("json");
        zip_of(&[("manifest.json", &text), ("color.png", color), ("outline.png", outline)])
    }

    fn package(manifest: &Value) -> Vec<u8> {
        package_with(manifest, &png(192, 192), &png(32, 32))
    }

    fn details(result: CoreResult<AppPackage>) -> Vec<ErrorDetail> {
        match result {
            Err(CoreError::InvalidManifest(details)) => details,
            other => panic!("expected InvalidManifest, got {other:?}"),
        }
    }

    fn codes(result: CoreResult<AppPackage>) -> Vec<(String, String)> {
        details(result).into_iter().map(|d| (d.code, d.target)).collect()
    }

    fn has(result: CoreResult<AppPackage>, code: &str, target: &str) {
        let found = codes(result);
        assert!(
            found.iter().any(|(c, t)| c == code && t == target),
            "expected {code} at {target}, got {found:?}"
        );
    }

    /// Applies `edit` to the valid manifest and validates the resulting package.
    fn edited(edit: impl FnOnce(&mut Map<String, Value>)) -> CoreResult<AppPackage> {
        let mut m = manifest();
        if let Value::Object(obj) = &mut m {
            edit(obj);
        }
        parse_package(&package(&m))
    }

    fn bad_request_message(result: CoreResult<AppPackage>) -> String {
        match result {
            Err(CoreError::BadRequest(message)) => message,
            other => panic!("expected BadRequest, got {other:?}"),
        }
    }

    /// Offsets of every local (`PK\x03\x04`) and central (`PK\x01\x02`) header.
    fn headers(bytes: &[u8], signature: [u8; 4]) -> Vec<usize> {
        bytes.windows(4).enumerate().filter(|(_, w)| *w == signature).map(|(i, _)| i).collect()
    }

    #[test]
    fn valid_package_maps_every_field() {
        let app = parse_package(&package(&manifest())).expect("valid package");
        assert_eq!(
            app,
            AppPackage {
                manifest_id: APP_ID.to_string(),
                version: "1.0.3".to_string(),
                content: DefinitionContent {
                    display_name: "Contoso Tasks".to_string(),
                    short_description: "Track tasks".to_string(),
                    description: "Track your team's tasks in Teams.".to_string(),
                    client_app_id: Some(AAD_ID.to_string()),
                    required_permissions: vec![
                        ResourceSpecificPermission {
                            permission_value: "ChannelMessage.Read.Group".to_string(),
                            permission_type: PermissionType::Application,
                        },
                        ResourceSpecificPermission {
                            permission_value: "TeamsActivity.Send.User".to_string(),
                            permission_type: PermissionType::Delegated,
                        },
                    ],
                    bot_id: Some(BOT_ID.to_string()),
                    allowed_scopes: AllowedScopes { team: true, group_chat: true, personal: true },
                },
            }
        );
        let types: Vec<&str> =
            app.content.required_permissions.iter().map(|p| p.permission_type.as_str()).collect();
        assert_eq!(types, ["application", "delegated"]);
    }

    #[test]
    fn bom_case_insensitive_manifest_name_and_stored_entries_are_accepted() {
        let mut text = vec![0xEF, 0xBB, 0xBF];
        text.extend(serde_json::to_vec(&manifest()).expect("json"));
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        for (name, data) in
            [("Manifest.JSON", text), ("color.png", png(192, 192)), ("outline.png", png(32, 32))]
        {
            writer.start_file(name, options).expect("start");
            writer.write_all(&data).expect("write");
        }
        let bytes = writer.finish().expect("finish").into_inner();
        assert_eq!(parse_package(&bytes).expect("valid").manifest_id, APP_ID);
    }

    #[test]
    fn no_capability_means_personal_only() {
        let app = parse_package(&package(&{
            let mut m = manifest();
            if let Value::Object(obj) = &mut m {
                obj.remove("bots");
                obj.remove("configurableTabs");
                obj.remove("authorization");
                obj.remove("webApplicationInfo");
            }
            m
        }))
        .expect("valid");
        assert_eq!(
            app.content.allowed_scopes,
            AllowedScopes { team: false, group_chat: false, personal: true }
        );
        assert_eq!(app.content.bot_id, None);
        assert_eq!(app.content.client_app_id, None);
        assert!(app.content.required_permissions.is_empty());
    }

    #[test]
    fn tabs_and_message_extensions_contribute_scopes() {
        let app = parse_package(&package(&{
            let mut m = manifest();
            if let Value::Object(obj) = &mut m {
                obj.remove("bots");
                obj.remove("configurableTabs");
                obj.insert("staticTabs".into(), json!([{"entityId": "x", "scopes": ["personal"]}]));
                obj.insert(
                    "composeExtensions".into(),
                    json!([{"botId": BOT_ID, "scopes": ["GROUPCHAT"]}]),
                );
            }
            m
        }))
        .expect("valid");
        assert_eq!(
            app.content.allowed_scopes,
            AllowedScopes { team: false, group_chat: true, personal: true }
        );
        assert_eq!(app.content.bot_id, None);
    }

    #[test]
    fn manifest_value_without_developer_or_icons() {
        let mut m = manifest();
        if let Value::Object(obj) = &mut m {
            obj.remove("developer");
            obj.remove("icons");
        }
        let app = parse_manifest_value(&m).expect("valid inline manifest");
        assert_eq!(app.manifest_id, APP_ID);
        assert_eq!(app.content.display_name, "Contoso Tasks");
        // A developer that is present is still validated.
        if let Value::Object(obj) = &mut m {
            obj.insert("developer".into(), json!({"name": "x", "websiteUrl": "ftp://x"}));
        }
        let found = codes(parse_manifest_value(&m));
        assert!(found.contains(&("SchemaError_Required".into(), "developer".into())), "{found:?}");
        assert!(
            found.contains(&("SchemaError_Pattern".into(), "developer.websiteUrl".into())),
            "{found:?}"
        );
        // And the same manifest in a package requires a developer.
        if let Value::Object(obj) = &mut m {
            obj.remove("developer");
        }
        has(parse_package(&package(&m)), "SchemaError_Required", "developer");
        has(parse_manifest_value(&json!([1])), "SchemaError_Type", "manifest.json");
    }

    #[test]
    fn missing_manifest_json() {
        let bytes = zip_of(&[("color.png", &png(192, 192)), ("sub/manifest.json", b"{}")]);
        let found = details(parse_package(&bytes));
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].code.as_str(), found[0].target.as_str()),
            ("Serialization_FileMissing", "manifest.json")
        );
    }

    #[test]
    fn json_errors() {
        let bad = zip_of(&[("manifest.json", b"{\"id\": ")]);
        has(parse_package(&bad), "Serialization_FileNotValidJson", "manifest.json");
        let trailing = zip_of(&[("manifest.json", b"{\"id\": \"x\",\n}")]);
        has(
            parse_package(&trailing),
            "Serialization_TrailingCommaInManifestJsonFile",
            "manifest.json",
        );
        let array = zip_of(&[("manifest.json", b"[]")]);
        has(parse_package(&array), "SchemaError_Type", "manifest.json");
        let latin1 = zip_of(&[("manifest.json", b"{\"id\": \"\xe9\"}")]);
        has(parse_package(&latin1), "Serialization_FileNotValidJson", "manifest.json");
    }

    #[test]
    fn manifest_version_rules() {
        has(
            edited(|m| drop(m.remove("manifestVersion"))),
            "Serialization_ManifestVersionPropertyMissing",
            "manifestVersion",
        );
        has(
            edited(|m| drop(m.insert("manifestVersion".into(), json!("1.18")))),
            "SchemaError_Enum",
            "manifestVersion",
        );
        has(
            edited(|m| drop(m.insert("manifestVersion".into(), json!(1.16)))),
            "SchemaError_Type",
            "manifestVersion",
        );
        has(
            edited(|m| drop(m.insert("manifestVersion".into(), json!("1.11")))),
            "SchemaError_AdditionalProperties",
            "authorization",
        );
        for ok in ["1.12", "1.17", "1.19", "1.22", "devPreview"] {
            edited(|m| drop(m.insert("manifestVersion".into(), json!(ok)))).expect(ok);
        }
        let old = edited(|m| {
            m.insert("manifestVersion".into(), json!("1.5"));
            m.remove("authorization");
        });
        assert!(old.is_ok(), "{old:?}");
    }

    #[test]
    fn id_and_version_rules() {
        has(edited(|m| drop(m.remove("id"))), "CommonAppIdIsRequiredField", "id");
        has(
            edited(|m| drop(m.insert("id".into(), json!("not-a-guid")))),
            "CommonAppIdIsNotGuid",
            "id",
        );
        has(edited(|m| drop(m.insert("id".into(), json!(7)))), "SchemaError_Type", "id");
        has(
            edited(|m| drop(m.insert("version".into(), json!("")))),
            "VersionCannotBeEmpty",
            "version",
        );
        has(edited(|m| drop(m.remove("version"))), "VersionCannotBeEmpty", "version");
        for bad in ["1.0.0-beta", "1.0.0.0", "v1", "1..2"] {
            has(
                edited(|m| drop(m.insert("version".into(), json!(bad)))),
                "VersionContainsOnlyNumbersDotSeparated",
                "version",
            );
        }
        has(
            edited(|m| drop(m.insert("version".into(), json!("0.9.1")))),
            "VersionHasMajorLessThan1",
            "version",
        );
        let short =
            edited(|m| drop(m.insert("version".into(), json!("1.7")))).expect("two segments");
        assert_eq!(short.version, "1.7");
    }

    #[test]
    fn name_and_description_rules() {
        has(edited(|m| drop(m.remove("name"))), "SchemaError_Required", "name");
        has(edited(|m| drop(m.insert("name".into(), json!("Tasks")))), "SchemaError_Type", "name");
        has(
            edited(|m| drop(m.insert("name".into(), json!({"full": "x"})))),
            "ShortNameIsRequiredField",
            "name.short",
        );
        has(
            edited(|m| drop(m.insert("name".into(), json!({"short": "x".repeat(31)})))),
            "ShortNameLengthCheck",
            "name.short",
        );
        has(
            edited(|m| {
                drop(m.insert("name".into(), json!({"short": "x", "full": "y".repeat(101)})))
            }),
            "SchemaError_MaximumLength",
            "name.full",
        );
        // 30 multi-byte characters are fine.
        edited(|m| drop(m.insert("name".into(), json!({"short": "é".repeat(30)}))))
            .expect("30 chars");
        has(
            edited(|m| drop(m.insert("description".into(), json!({"full": "x"})))),
            "ShortDescriptionCannotBeEmpty",
            "description.short",
        );
        has(
            edited(|m| {
                drop(m.insert("description".into(), json!({"short": "x".repeat(81), "full": "x"})))
            }),
            "ShortDescriptionLengthCheck",
            "description.short",
        );
        has(
            edited(|m| drop(m.insert("description".into(), json!({"short": "x", "full": "  "})))),
            "FullDescriptionCannotBeEmpty",
            "description.full",
        );
        has(
            edited(|m| {
                drop(
                    m.insert("description".into(), json!({"short": "x", "full": "x".repeat(4001)})),
                )
            }),
            "FullDescriptionLengthCheck",
            "description.full",
        );
        has(edited(|m| drop(m.remove("description"))), "SchemaError_Required", "description");
    }

    #[test]
    fn developer_rules_match_the_documented_messages() {
        let found = details(edited(|m| {
            m.insert(
                "developer".into(),
                json!({"name": "x".repeat(33), "websiteUrl": "hs://www.yo.com"}),
            );
        }));
        let find = |target: &str| found.iter().find(|d| d.target == target).cloned().expect(target);
        let website = find("developer.websiteUrl");
        assert_eq!(website.code, "SchemaError_Pattern");
        assert_eq!(website.message, "String \"hs://www.yo.com\" does not match regex pattern \"^[Hh][Tt][Tt][Pp][Ss]?://\".");
        let required = find("developer");
        assert_eq!(required.code, "SchemaError_Required");
        assert_eq!(
            required.message,
            "Required properties are missing from object: [privacyUrl, termsOfUseUrl]."
        );
        assert_eq!(find("developer.name").code, "SchemaError_MaximumLength");
        has(
            edited(|m| drop(m.insert("developer".into(), json!("Contoso")))),
            "SchemaError_Type",
            "developer",
        );
        has(edited(|m| drop(m.remove("developer"))), "SchemaError_Required", "developer");
    }

    #[test]
    fn icon_rules() {
        has(
            parse_package(&package_with(&manifest(), &png(100, 100), &png(32, 32))),
            "InvalidColorIconHeightAndWidth",
            "icons.color",
        );
        has(
            parse_package(&package_with(&manifest(), &png(192, 192), &png(192, 192))),
            "InvalidOutlineIconHeightAndWidth",
            "icons.outline",
        );
        has(
            parse_package(&package_with(&manifest(), b"GIF89a not a png", &png(32, 32))),
            "InvalidColorIconHeightAndWidth",
            "icons.color",
        );
        has(
            parse_package(&package_with(&manifest(), &png(192, 192)[..10], &png(32, 32))),
            "InvalidColorIconHeightAndWidth",
            "icons.color",
        );
        let text = serde_json::to_vec(&manifest()).expect("json");
        let no_icons = zip_of(&[("manifest.json", &text), ("outline.png", &png(32, 32))]);
        let found = codes(parse_package(&no_icons));
        assert_eq!(found, [("Serialization_FileMissing".to_string(), "icons.color".to_string())]);
        has(
            edited(|m| drop(m.insert("icons".into(), json!({"color": "color.png"})))),
            "SchemaError_Required",
            "icons",
        );
        has(
            edited(|m| {
                drop(m.insert("icons".into(), json!({"color": 1, "outline": "outline.png"})))
            }),
            "SchemaError_Type",
            "icons.color",
        );
        has(edited(|m| drop(m.remove("icons"))), "SchemaError_Required", "icons");
        // Case-insensitive and ./-prefixed names resolve.
        edited(|m| {
            drop(
                m.insert("icons".into(), json!({"color": "./COLOR.png", "outline": "outline.PNG"})),
            )
        })
        .expect("resolves");
    }

    #[test]
    fn web_application_info_and_authorization_rules() {
        has(
            edited(|m| drop(m.insert("webApplicationInfo".into(), json!({"id": "nope"})))),
            "SchemaError_Pattern",
            "webApplicationInfo.id",
        );
        has(
            edited(|m| {
                drop(m.insert("webApplicationInfo".into(), json!({"id": AAD_ID, "resource": 5})))
            }),
            "SchemaError_Type",
            "webApplicationInfo.resource",
        );
        let rsc = |items: Value| {
            move |m: &mut Map<String, Value>| {
                drop(m.insert(
                    "authorization".into(),
                    json!({"permissions": {"resourceSpecific": items}}),
                ))
            }
        };
        let many: Vec<Value> = (0..17)
            .map(|i| json!({"name": format!("P{i}.Read.Group"), "type": "Application"}))
            .collect();
        has(
            edited(rsc(Value::Array(many))),
            "SchemaError_MaximumItems",
            "authorization.permissions.resourceSpecific",
        );
        has(
            edited(rsc(json!([{"name": "A", "type": "Both"}]))),
            "SchemaError_Enum",
            "authorization.permissions.resourceSpecific[0].type",
        );
        has(
            edited(rsc(json!([{"name": "x".repeat(129), "type": "Delegated"}]))),
            "SchemaError_MaximumLength",
            "authorization.permissions.resourceSpecific[0].name",
        );
        has(
            edited(rsc(
                json!([{"name": "A", "type": "application"}, {"name": "A", "type": "Application"}]),
            )),
            "SchemaError_UniqueItems",
            "authorization.permissions.resourceSpecific",
        );
        has(
            edited(rsc(json!([{"type": "Application"}]))),
            "SchemaError_Required",
            "authorization.permissions.resourceSpecific[0]",
        );
        has(
            edited(rsc(json!("ChannelMessage.Read.Group"))),
            "SchemaError_Type",
            "authorization.permissions.resourceSpecific",
        );
        has(
            edited(rsc(json!([42]))),
            "SchemaError_Type",
            "authorization.permissions.resourceSpecific[0]",
        );
        // Same name with both types is fine.
        let both = edited(rsc(
            json!([{"name": "A", "type": "Application"}, {"name": "A", "type": "Delegated"}]),
        ))
        .expect("distinct");
        assert_eq!(both.content.required_permissions.len(), 2);
    }

    #[test]
    fn bot_and_scope_rules() {
        has(
            edited(|m| {
                drop(m.insert("bots".into(), json!([{"botId": "bot", "scopes": ["team"]}])))
            }),
            "BotIdIsNotGuid",
            "bots[0].botId",
        );
        has(
            edited(|m| {
                drop(m.insert("bots".into(), json!([{"botId": BOT_ID, "scopes": ["meeting"]}])))
            }),
            "SchemaError_Enum",
            "bots[0].scopes[0]",
        );
        has(
            edited(|m| drop(m.insert("bots".into(), json!({"botId": BOT_ID})))),
            "SchemaError_Type",
            "bots",
        );
        has(edited(|m| drop(m.insert("bots".into(), json!(["x"])))), "SchemaError_Type", "bots[0]");
        has(
            edited(|m| drop(m.insert("bots".into(), json!([{"botId": BOT_ID}])))),
            "SchemaError_Required",
            "bots[0]",
        );
        has(
            edited(|m| drop(m.insert("staticTabs".into(), json!([{"scopes": "personal"}])))),
            "SchemaError_Type",
            "staticTabs[0].scopes",
        );
        has(
            edited(|m| {
                drop(m.insert("composeExtensions".into(), json!([{"scopes": ["channel"]}])))
            }),
            "SchemaError_Enum",
            "composeExtensions[0].scopes[0]",
        );
    }

    #[test]
    fn all_problems_are_reported_together() {
        let found = codes(edited(|m| {
            m.remove("name");
            m.insert("id".into(), json!("abc"));
            m.insert("version".into(), json!("0.1.0"));
            m.insert("developer".into(), json!({"name": "C", "websiteUrl": "hs://www.yo.com", "privacyUrl": "https://p", "termsOfUseUrl": "https://t"}));
            m.insert("bots".into(), json!([{"botId": "x", "scopes": ["team"]}]));
        }));
        let expected: Vec<(String, String)> = [
            ("CommonAppIdIsNotGuid", "id"),
            ("VersionHasMajorLessThan1", "version"),
            ("SchemaError_Required", "name"),
            ("SchemaError_Pattern", "developer.websiteUrl"),
            ("BotIdIsNotGuid", "bots[0].botId"),
        ]
        .iter()
        .map(|(c, t)| (c.to_string(), t.to_string()))
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn corrupt_and_truncated_zips_are_bad_requests() {
        bad_request_message(parse_package(b"this is not a zip file at all"));
        bad_request_message(parse_package(&[]));
        let good = package(&manifest());
        bad_request_message(parse_package(&good[..good.len() / 2]));
        // Flip bytes inside the compressed manifest data: CRC or inflate failure.
        let mut damaged = good.clone();
        let local = headers(&damaged, *b"PK\x03\x04")[0];
        for byte in damaged.iter_mut().skip(local + 60).take(20) {
            *byte ^= 0x55;
        }
        bad_request_message(parse_package(&damaged));
    }

    #[test]
    fn oversize_package_is_payload_too_large() {
        let bytes = vec![0u8; MAX_PACKAGE_BYTES + 1];
        match parse_package(&bytes) {
            Err(CoreError::PayloadTooLarge(message)) => {
                assert!(message.contains("16 MiB"), "{message}")
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
    }

    #[test]
    fn too_many_entries() {
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("f{i}.txt")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let message = bad_request_message(parse_package(&zip_of(&entries)));
        assert!(message.contains("64"), "{message}");
    }

    #[test]
    fn zip_bomb_is_rejected_without_inflating_it() {
        // 200 MB of zeros, written and compressed in 1 MiB chunks.
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(1));
        writer.start_file("manifest.json", options).expect("start");
        writer.write_all(&serde_json::to_vec(&manifest()).expect("json")).expect("write");
        writer.start_file("bomb.bin", options).expect("start");
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..200 {
            writer.write_all(&chunk).expect("write");
        }
        let bytes = writer.finish().expect("finish").into_inner();
        assert!(bytes.len() < MAX_PACKAGE_BYTES);
        let message = bad_request_message(parse_package(&bytes));
        assert!(message.contains("bomb.bin") && message.contains("4 MiB"), "{message}");
    }

    #[test]
    fn lying_size_headers_are_caught_by_the_bounded_read() {
        let bytes = zip_of(&[("manifest.json", b"{}"), ("zeros.bin", &vec![0u8; 5 * 1024 * 1024])]);
        let mut patched = bytes.clone();
        // Claim 10 bytes uncompressed in both the local and the central header of zeros.bin.
        let local = headers(&patched, *b"PK\x03\x04")[1];
        let central = headers(&patched, *b"PK\x01\x02")[1];
        patched[local + 22..local + 26].copy_from_slice(&10u32.to_le_bytes());
        patched[central + 24..central + 28].copy_from_slice(&10u32.to_le_bytes());
        let message = bad_request_message(parse_package(&patched));
        assert!(message.contains("\"zeros.bin\" is more than 4194304 bytes"), "{message}");

        // Many entries under their own limit but over the total.
        let big = vec![0u8; 4 * 1024 * 1024];
        let names: Vec<String> = (0..17).map(|i| format!("f{i}.bin")).collect();
        let entries: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), big.as_slice())).collect();
        let message = bad_request_message(parse_package(&zip_of(&entries)));
        assert!(message.contains("64 MiB"), "{message}");
    }

    #[test]
    fn oversize_manifest_entry() {
        let mut text = b"{\"pad\": \"".to_vec();
        text.extend(vec![b'a'; 1024 * 1024]);
        text.extend(b"\"}");
        let message = bad_request_message(parse_package(&zip_of(&[("manifest.json", &text)])));
        assert!(message.contains("manifest.json") && message.contains("1 MiB"), "{message}");
    }

    #[test]
    fn path_tricks_are_rejected() {
        for name in ["../evil", "/abs", "a\\b", "C:/x.png", "icons/../../x"] {
            let bytes = zip_of(&[("manifest.json", b"{}"), (name, b"x")]);
            let message = bad_request_message(parse_package(&bytes));
            assert!(message.contains("entry name"), "{name}: {message}");
        }
    }

    #[test]
    fn encrypted_entries_are_rejected() {
        let mut bytes = zip_of(&[("manifest.json", b"{}")]);
        let local = headers(&bytes, *b"PK\x03\x04")[0];
        let central = headers(&bytes, *b"PK\x01\x02")[0];
        bytes[local + 6] |= 1;
        bytes[central + 8] |= 1;
        let message = bad_request_message(parse_package(&bytes));
        assert!(message.contains("encrypted"), "{message}");
    }

    #[test]
    fn helpers() {
        assert_eq!(png_dimensions(&png(192, 32)), Some((192, 32)));
        assert_eq!(png_dimensions(b"\x89PNG"), None);
        assert!(is_guid("7F0E4E2A-1B8A-4C41-9B4E-2D5F3C1A9E10"));
        assert!(!is_guid("{7f0e4e2a-1b8a-4c41-9b4e-2d5f3c1a9e10}"));
        assert!(!is_guid("7f0e4e2a1b8a4c419b4e2d5f3c1a9e10"));
        assert!(is_http_url("https://x") && is_http_url("HtTp://x"));
        assert!(!is_http_url("hs://x") && !is_http_url("https:/x") && !is_http_url("http"));
        assert_eq!(ManifestVersion::parse("1.18"), None);
        assert_eq!(ManifestVersion::parse("1.05"), None);
        assert_eq!(ManifestVersion::parse("1.4"), None);
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            json!(null),
            json!({"manifestVersion": null, "id": null, "name": {"short": null}, "bots": [null, {"scopes": [1, null]}]}),
            json!({"authorization": {"permissions": 1}, "staticTabs": [1], "configurableTabs": "x", "composeExtensions": [{"scopes": {}}]}),
            json!({"description": [], "developer": {"name": 1, "websiteUrl": [], "privacyUrl": {}, "termsOfUseUrl": true}}),
        ];
        for input in inputs {
            assert!(matches!(parse_manifest_value(&input), Err(CoreError::InvalidManifest(_))));
        }
    }
}
