//! Who is calling: what a verified access token says.

/// Delegated (a user signed in to an app) or application (the app itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    Application,
    Delegated { user_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: String,
    /// The calling Entra app (`appid` / `azp`).
    pub app_id: String,
    pub kind: PrincipalKind,
    /// `scp` (space-separated in the token) or `roles`, in token order.
    pub permissions: Vec<String>,
    /// The signed-in user is a Teams Service Administrator or Global Administrator.
    pub is_admin: bool,
    /// A personal Microsoft account (the consumer tenant): these APIs refuse it (spec 4.1).
    pub personal_account: bool,
}

/// The tenant id of personal Microsoft accounts (tokens of consumers carry it as `tid`).
pub const CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

impl Principal {
    pub fn is_delegated(&self) -> bool {
        matches!(self.kind, PrincipalKind::Delegated { .. })
    }

    pub fn user_id(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::Delegated { user_id } => Some(user_id),
            PrincipalKind::Application => None,
        }
    }

    pub fn holds(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p.eq_ignore_ascii_case(permission))
    }
}
