//! Checking webhook signatures: that a delivery was sent by who holds the shared secret.
//!
//! A webhook address (`/hooks/{config}/{secret}`) already tells the host which config and tenant
//! a delivery is for; a signature tells the plugin that the body is what the sender signed. The
//! two formats here are the ones most services copy:
//!
//! - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` ([`verify_github`]).
//! - Stripe: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">[,v1=…]`,
//!   refused when `t` is further than a tolerance from now ([`verify_stripe`]).
//!
//! The secret is usually a secret field of the config, which the host opens for the delivery
//! (`HttpParams::config`). Comparisons are in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureError(pub String);

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SignatureError {}

fn refuse<T>(reason: impl Into<String>) -> Result<T, SignatureError> {
    Err(SignatureError(reason.into()))
}

fn mac(secret: &[u8]) -> Result<Hmac<Sha256>, SignatureError> {
    if secret.is_empty() {
        return refuse("the webhook secret is empty: set it in the config");
    }
    Hmac::<Sha256>::new_from_slice(secret)
        .or_else(|_| refuse("the webhook secret cannot key an HMAC"))
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// Checks GitHub's `X-Hub-Signature-256` header (`header`, `None` when absent) against `body`.
///
/// # Errors
/// When the header is missing, malformed or does not match.
pub fn verify_github(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let Some(header) = header else {
        return refuse("the delivery has no X-Hub-Signature-256 header");
    };
    let signature = match header.trim().split_once('=') {
        Some(("sha256", signature)) if !signature.is_empty() => signature,
        _ => return refuse("X-Hub-Signature-256 must read sha256=<hex>"),
    };
    let Some(signature) = hex(signature) else {
        return refuse("X-Hub-Signature-256 must read sha256=<hex>");
    };
    let mut mac = mac(secret)?;
    mac.update(body);
    mac.verify_slice(&signature)
        .or_else(|_| refuse("the signature does not match the body and the secret"))
}

/// Checks Stripe's `Stripe-Signature` header against `body`: any of its `v1` signatures may
/// match (Stripe sends several while a secret is rolled), and its `t` must be within
/// `tolerance_secs` of `now_unix` (pass the clock's Unix time).
///
/// # Errors
/// When the header is missing or malformed, no signature matches, or `t` is too far off.
pub fn verify_stripe(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
    tolerance_secs: u64,
    now_unix: u64,
) -> Result<(), SignatureError> {
    let Some(header) = header else {
        return refuse("the delivery has no Stripe-Signature header");
    };
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) if !value.is_empty() => signatures.push(value),
            _ => {}
        }
    }
    let Some((timestamp, signed_at)) =
        timestamp.and_then(|text| Some((text, text.parse::<u64>().ok()?)))
    else {
        return refuse("Stripe-Signature has no t=<unix time>");
    };
    if signatures.is_empty() {
        return refuse("Stripe-Signature has no v1=<hex> signature");
    }
    if now_unix.abs_diff(signed_at) > tolerance_secs {
        return refuse(format!(
            "the delivery was signed {} s away from now, beyond the {tolerance_secs} s tolerance: a replay, or a clock far off",
            now_unix.abs_diff(signed_at)
        ));
    }
    let mut signed = mac(secret)?;
    signed.update(timestamp.as_bytes());
    signed.update(b".");
    signed.update(body);
    let matches = signatures
        .iter()
        .filter_map(|signature| hex(signature))
        .any(|signature| signed.clone().verify_slice(&signature).is_ok());
    if matches {
        Ok(())
    } else {
        refuse("no signature matches the body and the secret")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub's own example (docs: "Validating webhook deliveries").
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const HEADER: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_example_passes_and_anything_else_is_refused() {
        assert_eq!(verify_github(SECRET, BODY, Some(HEADER)), Ok(()));
        let upper = format!("sha256={}", HEADER["sha256=".len()..].to_uppercase());
        assert_eq!(verify_github(SECRET, BODY, Some(&upper)), Ok(()));
        for (secret, body, header, reason) in [
            (
                SECRET,
                &b"Hello, World?"[..],
                Some(HEADER),
                "does not match",
            ),
            (&b"other"[..], BODY, Some(HEADER), "does not match"),
            (SECRET, BODY, None, "no X-Hub-Signature-256"),
            (SECRET, BODY, Some("sha1=abc"), "sha256=<hex>"),
            (SECRET, BODY, Some("sha256=zz"), "sha256=<hex>"),
            (&b""[..], BODY, Some(HEADER), "secret is empty"),
        ] {
            let refused = verify_github(secret, body, header).expect_err("refused");
            assert!(refused.0.contains(reason), "{refused} should say {reason}");
        }
    }

    fn stripe_header(secret: &[u8], body: &[u8], at: u64) -> String {
        let mut signed = Hmac::<Sha256>::new_from_slice(secret).expect("any key");
        signed.update(format!("{at}.").as_bytes());
        signed.update(body);
        let hex: String = signed
            .finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("t={at},v1={},v1={hex}", "0".repeat(64))
    }

    #[test]
    fn stripe_signatures_match_any_v1_within_the_tolerance() {
        let body = br#"{"id":"evt_1"}"#;
        let good = stripe_header(b"whsec_test", body, 1_700_000_000);
        assert_eq!(
            verify_stripe(b"whsec_test", body, Some(&good), 300, 1_700_000_100),
            Ok(())
        );
        for (body, header, now, reason) in [
            (&body[..], good.as_str(), 1_700_000_301, "tolerance"),
            (&body[..], good.as_str(), 1_699_999_600, "tolerance"),
            (
                &b"{}"[..],
                good.as_str(),
                1_700_000_000,
                "no signature matches",
            ),
            (&body[..], "v1=abc", 1_700_000_000, "no t="),
            (&body[..], "t=1700000000", 1_700_000_000, "no v1="),
        ] {
            let refused =
                verify_stripe(b"whsec_test", body, Some(header), 300, now).expect_err("refused");
            assert!(refused.0.contains(reason), "{refused} should say {reason}");
        }
    }
}
