//! Graph's composite identifiers (spec section 10): definition and installation ids are
//! base64 of `##`-joined parts. We emit padded standard base64 and accept padded or unpadded.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;

use crate::model::{DistributionMethod, PublishingState};

fn decode(id: &str) -> Option<String> {
    let trimmed = id.trim_end_matches('=');
    let bytes = STANDARD_NO_PAD.decode(trimmed).ok()?;
    String::from_utf8(bytes).ok()
}

/// `base64({appId}##{version}##{State})` for organization apps, `base64({appId}##{version})`
/// for store and sideloaded apps (spec section 10).
pub fn definition_id(
    app_id: &str,
    version: &str,
    state: PublishingState,
    distribution: DistributionMethod,
) -> String {
    let raw = match distribution {
        DistributionMethod::Organization => format!("{app_id}##{version}##{}", state.pascal()),
        _ => format!("{app_id}##{version}"),
    };
    STANDARD.encode(raw)
}

/// A decoded definition id: the app, the version and, for the 3-part form, the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionKey {
    pub app_id: String,
    pub version: String,
    pub state: Option<PublishingState>,
}

pub fn parse_definition_id(id: &str) -> Option<DefinitionKey> {
    let raw = decode(id)?;
    let mut parts = raw.split("##");
    let app_id = parts.next()?.to_string();
    let version = parts.next()?.to_string();
    let state = match parts.next() {
        None => None,
        Some(s) => Some(PublishingState::from_pascal(s)?),
    };
    if parts.next().is_some() || app_id.is_empty() || version.is_empty() {
        return None;
    }
    Some(DefinitionKey { app_id, version, state })
}

/// `base64({scopeId}##{teamsAppId})`: stable across upgrades (spec section 10).
pub fn installation_id(scope_id: &str, app_id: &str) -> String {
    STANDARD.encode(format!("{scope_id}##{app_id}"))
}

/// Decodes an installation id into `(scopeId, teamsAppId)`. Chat ids contain no `##`, so the
/// last separator splits them.
pub fn parse_installation_id(id: &str) -> Option<(String, String)> {
    let raw = decode(id)?;
    let (scope, app) = raw.rsplit_once("##")?;
    if scope.is_empty() || app.is_empty() {
        return None;
    }
    Some((scope.to_string(), app.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installation_ids_from_the_docs_decode_padded_or_not() {
        let padded = "NWI2NDk4MzQtNzQxMi00Y2NlLTllNjktMTc2ZTk1YTM5NGY1IyNhNmI2MzM2NS0zMWE0LTRmNDMtOTJlYy03MTBiNzE1NTdhZjk=";
        let unpadded = padded.trim_end_matches('=');
        let expected = (
            "5b649834-7412-4cce-9e69-176e95a394f5".to_string(),
            "a6b63365-31a4-4f43-92ec-710b71557af9".to_string(),
        );
        assert_eq!(parse_installation_id(padded), Some(expected.clone()));
        assert_eq!(parse_installation_id(unpadded), Some(expected.clone()));
        assert_eq!(installation_id(&expected.0, &expected.1), padded);
    }

    #[test]
    fn chat_installation_ids_keep_the_chat_id_whole() {
        let id = installation_id("19:d65713bc498c4a428c71ef9353e6ce20@thread.v2", "app");
        assert_eq!(
            parse_installation_id(&id),
            Some(("19:d65713bc498c4a428c71ef9353e6ce20@thread.v2".into(), "app".into()))
        );
    }

    #[test]
    fn definition_ids_from_the_docs_decode() {
        let submitted = "YTc2MWFkMDctMjJlZi00YTUzLTlmZWItMjgzN2M4YWQ0YTg0IyMxLjEuOCMjU3VibWl0dGVk";
        let key = parse_definition_id(submitted).unwrap();
        assert_eq!(key.app_id, "a761ad07-22ef-4a53-9feb-2837c8ad4a84");
        assert_eq!(key.version, "1.1.8");
        assert_eq!(key.state, Some(PublishingState::Submitted));
        let published = definition_id(
            &key.app_id,
            "1.1.8",
            PublishingState::Published,
            DistributionMethod::Organization,
        );
        assert_eq!(
            published,
            "YTc2MWFkMDctMjJlZi00YTUzLTlmZWItMjgzN2M4YWQ0YTg0IyMxLjEuOCMjUHVibGlzaGVk"
        );
        let store =
            parse_definition_id("MGQ4MjBlY2QtZGVmMi00Mjk3LWFkYWQtNzgwNTZjZGU3Yzc4IyMxLjAuMA==")
                .unwrap();
        assert_eq!(store.version, "1.0.0");
        assert_eq!(store.state, None);
    }

    #[test]
    fn garbage_ids_are_rejected() {
        assert_eq!(parse_installation_id("!!!"), None);
        assert_eq!(parse_installation_id("YWJj"), None);
        assert_eq!(parse_definition_id("YWJj"), None);
    }
}
