//! How the element learns its session: attributes, or the `#cs=` fragment of the page's address.

/// The credential inside a `#cs=…` (hosted session) or `#ws=…` (wallet session) fragment, with
/// or without the `#`, if any.
pub fn credential_from_fragment(fragment: &str) -> Option<String> {
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    fragment
        .split('&')
        .find_map(|pair| pair.strip_prefix("cs=").or_else(|| pair.strip_prefix("ws=")))
        .filter(|cs| session_id_of_credential(cs).is_some())
        .map(str::to_owned)
}

/// `cs_abc` from `cs_abc_secret_xyz` (or `ws_…`): the session a credential belongs to.
pub fn session_id_of_credential(credential: &str) -> Option<&str> {
    let (session, secret) = credential.split_once("_secret_")?;
    let well_formed = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ((session.starts_with("cs_") || session.starts_with("ws_")) && well_formed(session) && well_formed(secret))
        .then_some(session)
}

/// True for a wallet session's credential.
pub fn is_wallet(credential: &str) -> bool {
    credential.starts_with("ws_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_credential_from_the_fragment() {
        assert_eq!(credential_from_fragment("#cs=cs_abc_secret_xyz").as_deref(), Some("cs_abc_secret_xyz"));
        assert_eq!(credential_from_fragment("x=1&cs=cs_abc_secret_xyz").as_deref(), Some("cs_abc_secret_xyz"));
        assert_eq!(credential_from_fragment("#cs=garbage"), None);
        assert_eq!(credential_from_fragment("#ws=ws_w1_secret_k").as_deref(), Some("ws_w1_secret_k"));
        assert_eq!(credential_from_fragment("#cs=cs_abc_secret_<script>"), None);
        assert_eq!(credential_from_fragment(""), None);
    }

    #[test]
    fn a_credential_names_its_session() {
        assert_eq!(session_id_of_credential("cs_abc_secret_xyz"), Some("cs_abc"));
        assert_eq!(session_id_of_credential("ws_abc_secret_xyz"), Some("ws_abc"));
        assert!(is_wallet("ws_abc_secret_xyz") && !is_wallet("cs_abc_secret_xyz"));
        assert_eq!(session_id_of_credential("xx_abc_secret_xyz"), None);
        assert_eq!(session_id_of_credential("cs_abc"), None);
    }
}
