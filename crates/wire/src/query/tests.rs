//! The query engine's tests: parsing, evaluation and shaping together.

use super::ast::*;
use super::options::*;
use super::parser::*;
use super::shape::*;
use crate::metadata::EntityType;
use crate::metadata::{
    installation, teams_app, teams_app_definition, teamwork_bot, user_installation,
};
use crate::odata::ApiVersion;
use serde_json::json;
use serde_json::Value;

const V1: ApiVersion = ApiVersion::V1;
const BETA: ApiVersion = ApiVersion::Beta;

fn parse(raw: &str, ty: fn(ApiVersion) -> &'static EntityType) -> ODataQuery {
    ODataQuery::parse(raw, ty(V1), V1).unwrap_or_else(|e| panic!("{raw}: {e}"))
}

fn parse_err(raw: &str, ty: fn(ApiVersion) -> &'static EntityType, version: ApiVersion) -> String {
    match ODataQuery::parse(raw, ty(version), version) {
        Ok(q) => panic!("{raw}: expected an error, got {q:?}"),
        Err(e) => e.to_string(),
    }
}

fn filter(src: &str, ty: fn(ApiVersion) -> &'static EntityType) -> Expr {
    let raw = format!("$filter={src}");
    parse(&raw, ty).filter.unwrap()
}

fn definition(id: &str, state: &str, bot: Option<&str>) -> Value {
    let mut d = json!({
        "@odata.etag": "\"etag\"",
        "id": id,
        "teamsAppId": "app-1",
        "azureADAppId": "aad-1",
        "displayName": "Ducks",
        "version": "1.0.9",
        "requiredResourceSpecificApplicationPermissions": ["ChatMessage.Read.Chat"],
        "publishingState": state,
        "shortDescription": "short",
        "description": "long",
        "lastModifiedDateTime": null,
        "createdBy": null,
        "authorization": {
            "clientAppId": "aad-1",
            "requiredPermissionSet": {"resourceSpecificPermissions": [
                {"permissionValue": "Channel.Create.Group", "permissionType": "application"},
                {"permissionValue": "ChannelMeeting.ReadBasic.Group", "permissionType": "delegated"}
            ]}
        },
        "allowedInstallationScopes": "team,groupChat,personal"
    });
    if let Some(bot) = bot {
        d["bot"] = json!({"id": bot});
    }
    d
}

fn app() -> Value {
    json!({
        "id": "8a1ed7a3",
        "externalId": "3CAB7543",
        "displayName": "Ducks-3",
        "distributionMethod": "organization",
        "appDefinitions": [
            definition("def-1", "published", Some("bot-1")),
            definition("def-2", "submitted", None),
        ]
    })
}

fn app_without_bots() -> Value {
    json!({
        "id": "b2",
        "externalId": null,
        "displayName": "OneNote",
        "distributionMethod": "store",
        "appDefinitions": [definition("def-3", "published", None)]
    })
}

fn install() -> Value {
    json!({
        "id": "inst-1",
        "consentedPermissionSet": {"resourceSpecificPermissions": [
            {"permissionValue": "ChatMessage.Read.Chat", "permissionType": "application"}
        ]},
        "teamsApp": {
            "id": "0240a368",
            "externalId": "cf1ba4c7",
            "displayName": "YPA",
            "distributionMethod": "sideloaded",
            "appDefinitions": [definition("def-9", "published", Some("bot-9"))]
        },
        "teamsAppDefinition": definition("def-9", "published", None),
        "chat": null
    })
}

// ---- examples: parsing and context suffixes ----

#[test]
fn documented_queries_parse_with_their_context_suffix() {
    type Case = (fn(ApiVersion) -> &'static EntityType, &'static str, &'static str);
    let cases: &[Case] = &[
        // v1_catalog_list_filter_distributionMethod
        (teams_app, "$filter=distributionMethod eq 'organization'", ""),
        // v1_catalog_list_filter_externalId
        (teams_app, "$filter=externalId eq 'cf1ba4c7-f94e-4d80-ba90-5594b641a8ee'", ""),
        // v1_catalog_list_filter_id
        (teams_app, "$filter=id eq 'b1c5353a-7aca-41b3-830f-27d5218fe0e5'", ""),
        // v1_catalog_list_filter_id_expand_appDefinitions
        (
            teams_app,
            "$filter=id eq '876df28f-2e78-423b-94a5-44181bd0e225'&$expand=appDefinitions",
            "(appDefinitions())",
        ),
        // v1_catalog_list_rsc_permissions (spec 4 consent rule query)
        (
            teams_app,
            "$filter=id+eq+'a5228c26-a9ae-4702-90e0-79a5246d2f7d'&$expand=appDefinitions($select=id,authorization)",
            "(appDefinitions(id,authorization))",
        ),
        // v1_catalog_list_with_bots
        (
            teams_app,
            "$expand=appDefinitions($expand=bot)&$filter=appDefinitions/any(a:a/bot ne null)",
            "(appDefinitions(bot()))",
        ),
        // v1_catalog_publish_app_requiresReview: not a system option
        (teams_app, "requiresReview=true", ""),
        // v1_{chat,team}_{list,get}_installedApps_select_consentedPermissionSet
        (installation, "$select=consentedPermissionSet,id", "(consentedPermissionSet,id)"),
        // v1_chat_list_installedApps_expand_definition_bot (the doc context shows
        // `teamsAppDefinition()`; OData rules, and the catalog example, give the nested form)
        (installation, "$expand=teamsAppDefinition($expand=bot)", "(teamsAppDefinition(bot()))"),
        // v1_{chat,team,user}_list_installedApps_filter_externalId
        (
            installation,
            "$expand=teamsApp,teamsAppDefinition&$filter=teamsApp/externalId eq 'cf1ba4c7-f94e-4d80-ba90-5594b641a8ee'",
            "(teamsApp(),teamsAppDefinition())",
        ),
        (
            user_installation,
            "$expand=teamsApp,teamsAppDefinition&$filter=teamsApp/externalId eq 'cf1ba4c7-f94e-4d80-ba90-5594b641a8ee'",
            "(teamsApp(),teamsAppDefinition())",
        ),
        // v1_{team,user}_{list,get}_installedApps_expand_definition
        (installation, "$expand=teamsAppDefinition", "(teamsAppDefinition())"),
        (user_installation, "$expand=teamsAppDefinition", "(teamsAppDefinition())"),
        // section 9 [I] additions
        (installation, "$filter=teamsApp/id eq '0240a368'", ""),
        (installation, "$filter=teamsApp/distributionMethod eq 'sideloaded'", ""),
        (installation, "$filter=teamsAppDefinition/version eq '6.0.0'", ""),
        (teams_app, "$filter=appDefinitions/any(a:a/publishingState eq 'submitted')", ""),
        (
            teams_app,
            "$filter=not (distributionMethod ne 'store') or externalId eq 'x' and id ne 'y'",
            "",
        ),
        // user get chat supports $select
        (user_installation, "$expand=chat($select=id,chatType)", "(chat(id,chatType))"),
        // percent-encoded option names and values
        (
            teams_app,
            "%24filter=id%20eq%20%27a%27&%24expand=appDefinitions(%24select%3Did)",
            "(appDefinitions(id))",
        ),
        (teams_app, "$select=*", "(*)"),
        (teams_app, "$top=5&$count=true&$skiptoken=abc", ""),
    ];
    for (ty, raw, suffix) in cases {
        let q = parse(raw, *ty);
        assert_eq!(q.context_suffix(), *suffix, "{raw}");
        // Beta accepts the same queries.
        ODataQuery::parse(raw, ty(BETA), BETA).unwrap_or_else(|e| panic!("beta {raw}: {e}"));
    }
}

#[test]
fn parsed_structure() {
    let q = parse(
        "$expand=appDefinitions($expand=bot;$select=id,AUTHORIZATION;$filter=publishingState eq 'Published')&$top=2&$count=TRUE&$skiptoken=t%2Bk&requiresReview=true&other=%zz",
        teams_app,
    );
    assert_eq!(q.top, Some(2));
    assert!(q.count);
    assert_eq!(q.skip_token.as_deref(), Some("t+k"));
    assert_eq!(q.select, None);
    assert_eq!(q.expand.len(), 1);
    let e = &q.expand[0];
    assert_eq!(e.navigation, "appDefinitions");
    assert_eq!(e.select, Some(vec!["id".to_string(), "authorization".to_string()]));
    assert_eq!(e.expand[0].navigation, "bot");
    assert!(e.filter.is_some());
    assert_eq!(q.context_suffix(), "(appDefinitions(id,authorization,bot()))");
    assert_eq!(e.context_suffix(), "(id,authorization,bot())");

    let q = parse("$select=ID,DisplayName,id&$expand=APPDEFINITIONS", teams_app);
    assert_eq!(q.select, Some(vec!["id".to_string(), "displayName".to_string()]));
    assert_eq!(q.expand[0].navigation, "appDefinitions");
    assert_eq!(q.context_suffix(), "(id,displayName,appDefinitions())");

    // A navigation may be selected when it is also expanded; it is listed once.
    let q = parse("$select=id,teamsApp&$expand=teamsApp($select=id)", installation);
    assert_eq!(q.context_suffix(), "(id,teamsApp(id))");

    assert_eq!(parse("", teams_app), ODataQuery::default());
    assert_eq!(parse("?&&", teams_app), ODataQuery::default());
    assert_eq!(parse("$count=false&$top=0", teams_app).top, Some(0));
}

// ---- filter evaluation ----

#[test]
fn filter_on_catalog_entities() {
    let (a, b) = (app(), app_without_bots());
    let check = |src: &str, expect_a: bool, expect_b: bool| {
        let f = filter(src, teams_app);
        assert_eq!((f.matches(&a), f.matches(&b)), (expect_a, expect_b), "{src}");
    };
    check("appDefinitions/any(a:a/bot ne null)", true, false);
    check("appDefinitions/any(a:a/bot eq null)", true, true);
    check("appDefinitions/all(a:a/bot ne null)", false, false);
    check("appDefinitions/all(a:a/publishingState eq 'published')", false, true);
    check("appDefinitions/any()", true, true);
    check("appDefinitions/any(a:a/publishingState eq 'SUBMITTED')", true, false);
    check("distributionMethod eq 'Organization'", true, false);
    check("distributionMethod ne 'organization'", false, true);
    check("externalId eq null", false, true);
    check("externalId ne null", true, false);
    check("externalId eq '3cab7543'", false, false); // values are case-sensitive
    check("EXTERNALID eq '3CAB7543'", true, false); // names are not
    check("not(externalId eq null)", true, false);
    check("not externalId eq null", true, false); // not binds looser than eq
    check("not not (id eq 'b2')", false, true);
    // and binds tighter than or
    check("id eq 'b2' or id eq '8a1ed7a3' and displayName eq 'nope'", false, true);
    check("(id eq 'b2' or id eq '8a1ed7a3') and displayName eq 'nope'", false, false);
    check("id eq 'b2' OR id eq '8a1ed7a3'", true, true);
    check("startswith(displayName,'Duck')", true, false);
    check("endswith(displayName,'Note')", false, true);
    check("contains(displayName,'ks-')", true, false);
    check("contains(displayName,'KS-')", false, false);
    check("startswith(distributionMethod,'ORG')", true, false);
    check("true", true, true);
    check("false or id eq 'b2'", false, true);
    check("id eq 5", false, false); // mismatched types: false
    check("id ne 5", false, false);
    check("id gt 'a'", false, true);
    check("id lt 'a'", true, false);
    check("'b2' eq id", false, true);
    // complex collections and enum values inside complex types
    check(
        "appDefinitions/any(d:d/authorization/requiredPermissionSet/resourceSpecificPermissions/any(p:p/permissionType eq 'Application' and p/permissionValue eq 'Channel.Create.Group'))",
        true,
        true,
    );
    check("appDefinitions/any(d:d/authorization/clientAppId eq 'aad-1')", true, true);
    check("appDefinitions/any(d:d/createdBy/user/id eq 'x')", false, false);
    check("appDefinitions/any(d:d/createdBy eq null)", true, true);
    // unprefixed paths inside a lambda refer to the outer entity
    check("appDefinitions/any(d:d/teamsAppId eq 'app-1' and id eq 'b2')", false, true);
}

#[test]
fn filter_on_installations() {
    let i = install();
    let yes = |src: &str, ty: fn(ApiVersion) -> &'static EntityType| {
        assert!(filter(src, ty).matches(&i), "{src}");
    };
    let no = |src: &str, ty: fn(ApiVersion) -> &'static EntityType| {
        assert!(!filter(src, ty).matches(&i), "{src}");
    };
    yes("teamsApp/externalId eq 'cf1ba4c7'", installation);
    no("teamsApp/externalId eq 'CF1BA4C7'", installation);
    yes("teamsApp/distributionMethod eq 'Sideloaded'", installation);
    yes("teamsAppDefinition/version eq '1.0.9'", installation);
    yes("teamsappdefinition/Version ge '1.0.0'", installation);
    no("teamsAppDefinition/bot ne null", installation);
    yes("teamsApp/appDefinitions/any(a:a/bot ne null)", installation);
    yes("consentedPermissionSet ne null", installation);
    yes("chat eq null", user_installation);
    yes(
        "consentedPermissionSet/resourceSpecificPermissions/any(p:p/permissionType eq 'application')",
        installation,
    );
    // absent navigation: eq null is true, any() is false, all() is vacuously true
    let bare = json!({"id": "x"});
    assert!(filter("teamsApp eq null", installation).matches(&bare));
    assert!(filter("teamsApp/externalId eq null", installation).matches(&bare));
    assert!(!filter("teamsApp/externalId ne null", installation).matches(&bare));
    assert!(!filter("teamsApp/appDefinitions/any()", installation).matches(&bare));
    assert!(filter("teamsApp/appDefinitions/all(a:a/bot ne null)", installation).matches(&bare));
    // non-object input never panics
    for v in [json!(null), json!([1, 2]), json!("s"), json!({"teamsApp": [1]})] {
        assert!(!filter("teamsApp/externalId eq 'x'", installation).matches(&v));
    }
}

#[test]
fn beta_filters_use_beta_properties() {
    let d = definition("d", "published", None);
    let ty = teams_app_definition(BETA);
    let f =
        |src: &str| ODataQuery::parse(&format!("$filter={src}"), ty, BETA).unwrap().filter.unwrap();
    assert!(f("azureADAppId eq 'aad-1'").matches(&d));
    assert!(f(
        "requiredResourceSpecificApplicationPermissions/any(p:p eq 'ChatMessage.Read.Chat')"
    )
    .matches(&d));
    assert!(f("shortDescription eq 'short'").matches(&d)); // lookup falls back case-insensitively
    let e = parse_err("$filter=azureADAppId eq 'aad-1'", teams_app_definition, V1);
    assert!(
        e.contains("'azureADAppId'") && e.contains("microsoft.graph.teamsAppDefinition"),
        "{e}"
    );
}

// ---- errors ----

#[test]
fn error_paths() {
    let too_many_ors = format!("$filter=id eq 'a'{}", " or id eq 'b'".repeat(MAX_OPERATORS + 1));
    type Case<'a> = (fn(ApiVersion) -> &'static EntityType, &'a str, &'a str);
    let cases: &[Case] = &[
        (
            teams_app,
            "$select=foo",
            "Could not find a property named 'foo' on type 'microsoft.graph.teamsApp'.",
        ),
        (
            teams_app,
            "$filter=foo eq 'x'",
            "Could not find a property named 'foo' on type 'microsoft.graph.teamsApp'.",
        ),
        (installation, "$filter=teamsApp/nope eq 'x'", "'nope' on type 'microsoft.graph.teamsApp'"),
        (
            installation,
            "$filter=chat eq null",
            "'chat' on type 'microsoft.graph.teamsAppInstallation'",
        ),
        (
            teams_app,
            "$filter=appDefinitions/any(a:a/nope ne null)",
            "'nope' on type 'microsoft.graph.teamsAppDefinition'",
        ),
        (
            teams_app,
            "$expand=foo",
            "Could not find a property named 'foo' on type 'microsoft.graph.teamsApp'.",
        ),
        (
            teams_app,
            "$expand=appDefinitions($expand=foo)",
            "'foo' on type 'microsoft.graph.teamsAppDefinition'",
        ),
        (
            teams_app,
            "$expand=appDefinitions($select=foo)",
            "'foo' on type 'microsoft.graph.teamsAppDefinition'",
        ),
        (teams_app, "$expand=id", "is not a navigation property"),
        (teams_app, "$expand=appDefinitions,appDefinitions", "more than once"),
        (teams_app, "$expand=*", "not supported"),
        (installation, "$expand=teamsAppDefinition/bot", "not supported"),
        (teams_app, "$expand=appDefinitions($top=1)", "'$top' is not supported"),
        (teams_app, "$expand=appDefinitions($select=id;$select=id)", "more than once"),
        (teams_app, "$expand=appDefinitions($select=)", "must not be empty"),
        (teams_app, "$expand=appDefinitions(bot)", "expected '$option=value'"),
        (teams_app, "$expand=appDefinitions(", "unbalanced parentheses"),
        (teams_app, "$expand=appDefinitions)", "unbalanced parentheses"),
        (teams_app, "$expand=appDefinitions($expand=bot)x", "unexpected text"),
        (teams_app, "$expand=appDefinitions($expand=bot)($select=id)", "unbalanced parentheses"),
        (teams_app, "$expand=,appDefinitions", "empty item"),
        (teams_app, "$select=id,", "empty item"),
        (teams_app, "$select=appDefinitions", "only together with $expand"),
        (
            installation,
            "$select=id&$expand=teamsApp($select=appDefinitions)",
            "only together with $expand",
        ),
        (teams_app, "$top=1000", "The limit of '999' for Top query has been exceeded"),
        (teams_app, "$top=-1", "Invalid value '-1' for $top"),
        (teams_app, "$top=abc", "Invalid value 'abc' for $top"),
        (teams_app, "$top=1.5", "Invalid value"),
        (teams_app, "$top=99999999999999999999999", "Invalid value"),
        (teams_app, "$count=yes", "'yes' is not a valid count option."),
        (teams_app, "$search=ducks", "Query option '$search' is not supported on this resource."),
        (teams_app, "$orderby=id", "'$orderby' is not supported"),
        (teams_app, "$skip=1", "'$skip' is not supported"),
        (teams_app, "$apply=x", "'$apply' is not supported"),
        (teams_app, "$format=json", "'$format' is not supported"),
        (teams_app, "$bogus=1", "'$bogus' is not supported"),
        (teams_app, "$filter=id eq 'a'&$filter=id eq 'b'", "was specified more than once"),
        (teams_app, "$top=1&$TOP=2", "was specified more than once"),
        (teams_app, "$filter=", "must not be empty"),
        (teams_app, "$select=%20", "must not be empty"),
        (teams_app, "$count", "must not be empty"),
        (teams_app, "$filter=(id eq 'a'", "Invalid filter clause: expected ')'"),
        (teams_app, "$filter=id eq 'a')", "Invalid filter clause: unexpected ')'"),
        (teams_app, "$filter=id eq 'abc", "Invalid filter clause: unterminated string literal"),
        (teams_app, "$filter=id eq 'it''s", "unterminated string literal"),
        (teams_app, "$filter=id eq", "Invalid filter clause: unexpected end"),
        (teams_app, "$filter=id", "not a boolean expression"),
        (teams_app, "$filter=id eq 'a' and", "Invalid filter clause"),
        (teams_app, "$filter=id eq 'a' eq 'b'", "Invalid filter clause"),
        (teams_app, "$filter=id eq 5b649834-7412", "must be quoted"),
        (teams_app, &too_many_ors, "too many operators"),
        (teams_app, "$filter=id eq \"a\"", "unexpected character '\"'"),
        (teams_app, "$filter=tolower(id) eq 'a'", "unknown function 'tolower'"),
        (teams_app, "$filter=startswith(id)", "expected ','"),
        (teams_app, "$filter=appDefinitions eq null", "must be used with any or all"),
        (teams_app, "$filter=appDefinitions/id eq 'x'", "must be used with any or all"),
        (teams_app, "$filter=appDefinitions/all()", "all requires a lambda expression"),
        (teams_app, "$filter=id/any(a:a eq 'x')", "not collection-valued"),
        (teams_app, "$filter=appDefinitions/any(a:a/bot eq 'x')", "can only be compared with null"),
        (teams_app, "$filter=appDefinitions/any(a:a/bot)", "not a boolean expression"),
        (teams_app, "$filter=appDefinitions/any(a a/bot ne null)", "expected ':'"),
        (teams_app, "$filter=(id eq 'a') eq true", "must be values"),
        (teams_app, "$filter=id/x eq 'a'", "on type 'Edm.String'"),
        (teams_app, "$filter=id eq 'a':", "unexpected ':'"),
        (teams_app, "$filter=%E2%82", "not valid UTF-8"),
    ];
    for (ty, raw, needle) in cases {
        let e = parse_err(raw, *ty, V1);
        assert!(e.contains(needle), "{raw}: {e:?} does not contain {needle:?}");
    }
    // v1.0 does not know beta-only properties or navigations.
    let e = parse_err("$expand=appDefinitions($select=azureADAppId)", teams_app, V1);
    assert!(e.contains("'azureADAppId'"), "{e}");
    let e = parse_err("$expand=appDefinitions($expand=colorIcon)", teams_app, V1);
    assert!(e.contains("'colorIcon'"), "{e}");
    assert!(ODataQuery::parse("$expand=appDefinitions($expand=colorIcon)", teams_app(BETA), BETA)
        .is_ok());
}

#[test]
fn hostile_input_never_panics() {
    let deep_parens = format!("$filter={}id eq 'a'{}", "(".repeat(5000), ")".repeat(5000));
    let deep_not = format!("$filter={}id eq 'a'", "not ".repeat(5000));
    let deep_expand = format!("$expand={}", "appDefinitions($expand=".repeat(2000));
    let long_or = format!("$filter=id eq 'a'{}", " or id eq 'b'".repeat(2000));
    let hostile: Vec<String> = [
        "",
        "?",
        "&",
        "=",
        "$",
        "$=",
        "==",
        "&&&=&",
        "%",
        "%%",
        "%2",
        "%zz",
        "%C3",
        "%FF%FE",
        "+",
        "$filter=%",
        "$filter=(",
        "$filter=)",
        "$filter='",
        "$filter=''",
        "$filter=''''",
        "$filter=-",
        "$filter=-1",
        "$filter=1e",
        "$filter=1e+",
        "$filter=1.",
        "$filter=.5",
        "$filter=é eq 'é'",
        "$filter=id eq 'é",
        "$filter=id eq 'ü'",
        "$filter=/",
        "$filter=a/",
        "$filter=id/",
        "$filter=any()",
        "$filter=appDefinitions/any(",
        "$filter=appDefinitions/any(a:",
        "$filter=appDefinitions/any(a:a/",
        "$filter=appDefinitions/any(a:a/bot ne null",
        "$filter=appDefinitions/any(a:a/bot ne null))",
        "$filter=appDefinitions/any(a:b/bot ne null)",
        "$filter=appDefinitions/any(a:a)",
        "$filter=appDefinitions/any(a:a eq null)",
        "$filter=not",
        "$filter=not not",
        "$filter=and",
        "$filter=or or or",
        "$filter=eq eq eq",
        "$filter=null eq null",
        "$filter=true eq false",
        "$filter=1 eq 1",
        "$filter=1e400 gt 1",
        "$filter=startswith(",
        "$filter=startswith(,)",
        "$filter=contains('a','b')",
        "$filter=contains(id,appDefinitions)",
        "$filter=id eq id",
        "$filter=\u{0}",
        "$select=",
        "$select=,",
        "$select=(",
        "$select=*,*",
        "$select=id(",
        "$expand=(",
        "$expand=)",
        "$expand=()",
        "$expand=appDefinitions(()",
        "$expand=appDefinitions($expand=bot(",
        "$expand=appDefinitions($filter=')",
        "$expand=appDefinitions($filter=bot ne null)",
        "$expand=appDefinitions(;;;)",
        "$expand=appDefinitions($select=id;)",
        "$top=",
        "$top=+1",
        "$top= 1",
        "$count=",
        "$skiptoken=%",
        "$filter=id eq 'a'%26$top=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([deep_parens, deep_not, deep_expand, long_or])
    .collect();
    let entities = [app(), app_without_bots(), install(), json!(null), json!({"id": 1}), json!([])];
    for raw in &hostile {
        for version in [V1, BETA] {
            for ty in [
                teams_app(version),
                installation(version),
                user_installation(version),
                teamwork_bot(version),
            ] {
                if let Ok(q) = ODataQuery::parse(raw, ty, version) {
                    let _ = q.context_suffix();
                    for e in &entities {
                        let _ = q.matches(e);
                        let _ = q.shape(e.clone(), ty, version);
                    }
                }
            }
        }
    }
}

// ---- shaping ----

#[test]
fn shape_catalog_rsc_example() {
    // v1_catalog_list_rsc_permissions
    let q = parse(
        "$filter=id+eq+'8a1ed7a3'&$expand=appDefinitions($select=id,authorization)",
        teams_app,
    );
    let a = app();
    assert!(q.matches(&a));
    let shaped = q.shape(a.clone(), teams_app(V1), V1);
    assert_eq!(
        shaped,
        json!({
            "id": "8a1ed7a3",
            "externalId": "3CAB7543",
            "displayName": "Ducks-3",
            "distributionMethod": "organization",
            "appDefinitions": [
                {"@odata.etag": "\"etag\"", "id": "def-1", "authorization": a["appDefinitions"][0]["authorization"]},
                {"@odata.etag": "\"etag\"", "id": "def-2", "authorization": a["appDefinitions"][1]["authorization"]},
            ]
        })
    );
}

#[test]
fn shape_omits_null_single_navigation_and_versions_differ() {
    // v1_catalog_list_with_bots: definitions without a bot have no "bot" key.
    let q = parse("$expand=appDefinitions($expand=bot)", teams_app);
    let shaped = q.shape(app(), teams_app(V1), V1);
    let defs = shaped["appDefinitions"].as_array().unwrap();
    assert_eq!(defs[0]["bot"], json!({"id": "bot-1"}));
    assert!(defs[1].get("bot").is_none());
    let mut v1_keys: Vec<&String> = defs[0].as_object().unwrap().keys().collect();
    v1_keys.sort_unstable();
    let mut expected = vec![
        "@odata.etag",
        "id",
        "teamsAppId",
        "displayName",
        "version",
        "publishingState",
        "shortDescription",
        "description",
        "lastModifiedDateTime",
        "createdBy",
        "authorization",
        "bot",
    ];
    expected.sort_unstable();
    assert_eq!(v1_keys, expected);

    let q = ODataQuery::parse("$expand=appDefinitions", teams_app(BETA), BETA).unwrap();
    let shaped = q.shape(app(), teams_app(BETA), BETA);
    let def = shaped["appDefinitions"][0].as_object().unwrap();
    for k in [
        "azureADAppId",
        "requiredResourceSpecificApplicationPermissions",
        "allowedInstallationScopes",
    ] {
        assert!(def.contains_key(k), "beta lacks {k}");
    }
    // beta spells shortdescription in lower case; the value comes from either spelling
    assert_eq!(def["shortdescription"], json!("short"));
    assert!(!def.contains_key("shortDescription"));
    assert!(!def.contains_key("bot"), "non-expanded navigations are dropped");

    // Without $expand, navigations are dropped entirely.
    let shaped = ODataQuery::default().shape(app(), teams_app(V1), V1);
    assert!(shaped.get("appDefinitions").is_none());
    // An absent collection expands to [].
    let shaped =
        parse("$expand=appDefinitions", teams_app).shape(json!({"id": "x"}), teams_app(V1), V1);
    assert_eq!(shaped["appDefinitions"], json!([]));
    assert_eq!(shaped["displayName"], Value::Null, "missing properties are null");
}

#[test]
fn shape_installations() {
    let i = install();
    let ty = installation(V1);
    // default: only id (consentedPermissionSet is select-only), navigations dropped
    assert_eq!(ODataQuery::default().shape(i.clone(), ty, V1), json!({"id": "inst-1"}));
    // v1_chat_list_installedApps_select_consentedPermissionSet
    let q = parse("$select=consentedPermissionSet,id", installation);
    assert_eq!(
        q.shape(i.clone(), ty, V1),
        json!({"id": "inst-1", "consentedPermissionSet": i["consentedPermissionSet"]})
    );
    assert_eq!(parse("$select=*", installation).shape(i.clone(), ty, V1), json!({"id": "inst-1"}));
    let q = parse("$select=consentedPermissionSet", installation);
    assert_eq!(q.shape(json!({"id": "x"}), ty, V1), json!({"consentedPermissionSet": null}));
    // v1_team_list_installedApps_expand_definition (v1.0 property set only)
    let q = parse("$expand=teamsAppDefinition", installation);
    let shaped = q.shape(i.clone(), ty, V1);
    let def = shaped["teamsAppDefinition"].as_object().unwrap();
    assert!(!def.contains_key("azureADAppId"));
    assert_eq!(def["version"], json!("1.0.9"));
    assert!(shaped.get("teamsApp").is_none());
    // nested select in expand, and a nested filter on a single-valued navigation
    let q = parse("$expand=teamsApp($select=externalId;$expand=appDefinitions($select=id)),teamsAppDefinition($filter=version eq '0')", installation);
    assert_eq!(
        q.shape(i.clone(), ty, V1),
        json!({"id": "inst-1", "teamsApp": {"externalId": "cf1ba4c7", "appDefinitions": [{"@odata.etag": "\"etag\"", "id": "def-9"}]}})
    );
    // user installation: expanded null chat is omitted, beta definitions carry beta props
    let q = ODataQuery::parse("$expand=chat,teamsAppDefinition", user_installation(BETA), BETA)
        .unwrap();
    let shaped = q.shape(i.clone(), user_installation(BETA), BETA);
    assert!(shaped.get("chat").is_none());
    assert_eq!(shaped["teamsAppDefinition"]["azureADAppId"], json!("aad-1"));
    // nested $filter on a collection
    let q = parse(
        "$expand=appDefinitions($filter=publishingState eq 'submitted';$select=id)",
        teams_app,
    );
    assert_eq!(
        q.shape(app(), teams_app(V1), V1)["appDefinitions"],
        json!([{"@odata.etag": "\"etag\"", "id": "def-2"}])
    );
}

#[test]
fn decoding() {
    assert_eq!(decode_query_component("a+b%20c%27%2F").unwrap(), "a b c'/");
    assert_eq!(decode_query_component("100%").unwrap(), "100%");
    assert_eq!(decode_query_component("%g1%4").unwrap(), "%g1%4");
    assert_eq!(decode_query_component("%C3%A9").unwrap(), "é");
    assert!(decode_query_component("%C3").is_err());
    let q = parse("$filter=displayName eq 'a%26b' or displayName eq 'it''s'", teams_app);
    assert!(q.matches(&json!({"displayName": "a&b"})));
    assert!(q.matches(&json!({"displayName": "it's"})));
    assert!(!q.matches(&json!({"displayName": "it''s"})));
}

// The by-value shaping against the copying oracle, on every form of query.
fn oracle_definition(id: &str, bot: Option<&str>) -> Value {
    json!({
        "@odata.etag": "\"e\"",
        "id": id,
        "teamsAppId": "app-1",
        "displayName": "Ducks",
        "version": "1.0.9",
        "publishingState": "published",
        "description": "long",
        "lastModifiedDateTime": null,
        "createdBy": {"user": {"id": "u1", "displayName": null}},
        "authorization": {"clientAppId": "c", "requiredPermissionSet":
            {"resourceSpecificPermissions": [{"permissionValue": "A", "permissionType": "application"}]}},
        "bot": bot.map(|b| json!({"id": b})),
        "shortdescription": "lower-case spelling (beta)",
        "azureADAppId": "c",
    })
}

fn oracle_installation() -> Value {
    json!({
        "id": "inst-1",
        "consentedPermissionSet": {"resourceSpecificPermissions": []},
        "teamsApp": {"id": "app-1", "externalId": "x", "displayName": "Ducks",
            "distributionMethod": "organization",
            "appDefinitions": [oracle_definition("d1", None), oracle_definition("d2", Some("b"))]},
        "teamsAppDefinition": oracle_definition("d2", Some("bot-1")),
        "chat": {"id": "19:c", "topic": null, "chatType": "oneOnOne", "tenantId": "t"},
    })
}

const QUERIES: &[&str] = &[
    "",
    "$expand=teamsApp",
    "$expand=teamsAppDefinition",
    "$expand=teamsApp,teamsAppDefinition,chat",
    "$expand=teamsAppDefinition($expand=bot)",
    "$expand=teamsAppDefinition($select=id,shortDescription,bot;$expand=bot)",
    "$expand=teamsApp($expand=appDefinitions($filter=id eq 'd2'))",
    "$expand=teamsApp($expand=appDefinitions($select=id,version))",
    "$expand=teamsAppDefinition($filter=id eq 'nope')",
    "$select=id",
    "$select=id,consentedPermissionSet&$expand=teamsAppDefinition",
    "$select=*&$expand=teamsApp",
    "$select=teamsApp&$expand=teamsApp",
];

#[test]
fn shape_moves_values_and_answers_as_the_copying_oracle() {
    let mut compared = 0;
    for v in [ApiVersion::V1, ApiVersion::Beta] {
        for ty in [installation(v), user_installation(v)] {
            for raw in QUERIES {
                // Only user installations have `chat`.
                let Ok(query) = ODataQuery::parse(raw, ty, v) else { continue };
                let full = oracle_installation();
                let want = shape_by_reference(&full, ty, v, query.select.as_deref(), &query.expand);
                assert_eq!(query.shape(full, ty, v).to_string(), want.to_string(), "{v:?} {raw}");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 4 * QUERIES.len() - 2);
}

#[test]
fn a_member_read_twice_is_copied_not_lost() {
    // Two properties that differ only in case both read the one entry the view has.
    static TWICE: EntityType = EntityType {
        name: "twice",
        properties: &["shortDescription", "SHORTDESCRIPTION", "id"],
        select_only: &[],
        navigations: &[],
        kinds: &[],
    };
    let query = ODataQuery::default();
    let full = json!({"@a": 1, "id": "x", "shortdescription": {"deep": ["value"]}});
    let want = shape_by_reference(&full, &TWICE, V1, None, &[]);
    assert_eq!(want["SHORTDESCRIPTION"], json!({"deep": ["value"]}));
    assert_eq!(query.shape(full, &TWICE, V1).to_string(), want.to_string());
    assert_eq!(query.shape(json!("scalar"), &TWICE, V1), json!("scalar"));
}
