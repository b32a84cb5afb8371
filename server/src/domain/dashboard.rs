//! Dashboard users (SPEC §12): their roles and what each role may do, and the sign-in rules.

use crate::text_enum;

text_enum! {
    /// A dashboard user's role within their client (the tenant).
    pub enum Role {
        /// Everything, the team included.
        Owner => "owner",
        /// Money movements, sessions and payment links, customers, terminals, settings.
        Admin => "admin",
        /// API keys, webhooks, events.
        Developer => "developer",
        /// Reads only.
        Viewer => "viewer",
    }
}

/// What a dashboard action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    /// Capture, void, refund; expire sessions, payment links; customers' saved methods; terminals.
    Operate,
    Settings,
    /// API keys, webhooks, events.
    Develop,
    Team,
}

impl Role {
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            Role::Admin => matches!(permission, Read | Operate | Settings),
            Role::Developer => matches!(permission, Read | Develop),
            Role::Viewer => permission == Read,
        }
    }
}

/// Failed sign-ins for one email within [`LOCK_WINDOW_MS`] that lock it.
pub const MAX_FAILURES: i64 = 5;
pub const LOCK_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long a locked email stays locked.
pub const LOCK_MS: i64 = 15 * 60 * 1000;
/// A session unused this long is over.
pub const IDLE_MS: i64 = 12 * 60 * 60 * 1000;
/// The cookie that carries a dashboard session.
pub const SESSION_COOKIE: &str = "govifi_session";

/// An email as users type it, made comparable: trimmed and lowercased; `None` when it is not
/// an address.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let fine = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    fine.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_allow_what_the_spec_says() {
        use Permission::*;
        let all = [Read, Operate, Settings, Develop, Team];
        assert!(all.iter().all(|p| Role::Owner.allows(*p)));
        assert_eq!(all.map(|p| Role::Admin.allows(p)), [true, true, true, false, false]);
        assert_eq!(all.map(|p| Role::Developer.allows(p)), [true, false, false, true, false]);
        assert_eq!(all.map(|p| Role::Viewer.allows(p)), [true, false, false, false, false]);
    }

    #[test]
    fn emails_are_normalized() {
        assert_eq!(normalize_email("  Demo@Govifi.TEST ").as_deref(), Some("demo@govifi.test"));
        for bad in ["", "demo", "@govifi.test", "demo@", "demo@test", "de mo@govifi.test", "demo@.test"] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }
}
