//! Properties of Standard Webhooks signing over arbitrary messages: whatever the id, timestamp
//! and body, a signature verifies for exactly the message it was made for. Any single-byte change
//! to the body, any other id, any other timestamp, any other secret fails verification.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use patchbay_core::secret::Secret;
use patchbay_core::signing::{SigningKey, VerifyError, signature_header, verify, verify_headers};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

const CASES: u32 = 1024;
const TOLERANCE: i64 = 300;

/// A `whsec_` secret over 24 to 64 arbitrary bytes (the accepted range).
fn secret() -> impl Strategy<Value = Secret> {
    vec(any::<u8>(), 24..=64).prop_map(|bytes| Secret::new(format!("whsec_{}", BASE64.encode(bytes))))
}

/// Ids: any text, including separators (`.`, ` `, `,`) that appear in the signed string or the
/// header syntax.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-zA-Z0-9_.,= -]{0,40}", Just(String::new()),]
}

/// Timestamps: anywhere in `i64`, with extra weight on the edges and on realistic values.
fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        0i64..4_000_000_000,
        prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX]),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..512), any::<String>().prop_map(String::into_bytes),]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Sign, then verify at the same instant: always accepted, by `verify` and by
    /// `verify_headers` (which reads the three headers back).
    #[test]
    fn sign_then_verify_round_trips(secret in secret(), id in id(), ts in timestamp(), body in body()) {
        let key = SigningKey::from_secret(&secret).unwrap();
        let signature = key.sign(&id, ts, &body);
        prop_assert!(signature.starts_with("v1,"));
        prop_assert_eq!(&signature, &signature_header(&[&secret], &id, ts, &body).unwrap());
        prop_assert!(key.signature_matches(&id, ts, &body, &signature));
        prop_assert_eq!(verify(&secret, &id, &ts.to_string(), &signature, &body, ts, TOLERANCE), Ok(()));

        // Through headers, when the id is a valid header value.
        if let Ok(id_value) = http::HeaderValue::from_str(&id)
            && !id.is_empty()
            && id_value.to_str().is_ok()
        {
            let mut headers = http::HeaderMap::new();
            headers.insert("webhook-id", id_value);
            headers.insert("webhook-timestamp", http::HeaderValue::from_str(&ts.to_string()).unwrap());
            headers.insert("webhook-signature", http::HeaderValue::from_str(&signature).unwrap());
            prop_assert_eq!(verify_headers(&secret, &headers, &body, ts, TOLERANCE), Ok(id.clone()));
        }
    }

    /// Flipping any bits of any one body byte breaks the signature.
    #[test]
    fn any_body_byte_flip_fails(
        secret in secret(),
        id in id(),
        ts in timestamp(),
        body in vec(any::<u8>(), 1..512),
        index in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let key = SigningKey::from_secret(&secret).unwrap();
        let signature = key.sign(&id, ts, &body);
        let mut tampered = body.clone();
        let at = index.index(tampered.len());
        tampered[at] ^= mask;
        prop_assert_ne!(&tampered, &body);
        prop_assert!(!key.signature_matches(&id, ts, &tampered, &signature));
        prop_assert_eq!(
            verify(&secret, &id, &ts.to_string(), &signature, &tampered, ts, TOLERANCE),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    /// Appending or truncating the body breaks the signature too.
    #[test]
    fn body_length_change_fails(secret in secret(), id in id(), ts in timestamp(), body in body(), extra in vec(any::<u8>(), 1..8)) {
        let key = SigningKey::from_secret(&secret).unwrap();
        let signature = key.sign(&id, ts, &body);
        let mut longer = body.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(!key.signature_matches(&id, ts, &longer, &signature));
        if !body.is_empty() {
            prop_assert!(!key.signature_matches(&id, ts, &body[..body.len() - 1], &signature));
        }
    }

    /// Another id (same timestamp and body) fails.
    #[test]
    fn other_id_fails(secret in secret(), id in id(), other in id(), ts in timestamp(), body in body()) {
        prop_assume!(id != other);
        let key = SigningKey::from_secret(&secret).unwrap();
        let signature = key.sign(&id, ts, &body);
        prop_assert!(!key.signature_matches(&other, ts, &body, &signature));
        prop_assert_eq!(
            verify(&secret, &other, &ts.to_string(), &signature, &body, ts, TOLERANCE),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    /// Another timestamp (same id and body) fails, even when it is within the tolerance.
    #[test]
    fn other_timestamp_fails(secret in secret(), id in id(), ts in timestamp(), other in timestamp(), delta in 1i64..=TOLERANCE, body in body()) {
        let key = SigningKey::from_secret(&secret).unwrap();
        let signature = key.sign(&id, ts, &body);
        for changed in [other, ts.wrapping_add(delta), ts.wrapping_sub(delta)] {
            if changed == ts {
                continue;
            }
            prop_assert!(!key.signature_matches(&id, changed, &body, &signature));
            // Verified "now" at the changed timestamp, so the failure is the signature, not staleness.
            prop_assert_eq!(
                verify(&secret, &id, &changed.to_string(), &signature, &body, changed, TOLERANCE),
                Err(VerifyError::NoMatchingSignature)
            );
        }
    }

    /// Another secret fails; a header holding both secrets' signatures verifies under each.
    #[test]
    fn other_secret_fails_and_rotation_header_verifies_both(a in secret(), b in secret(), id in id(), ts in timestamp(), body in body()) {
        prop_assume!(a.expose() != b.expose());
        let signature = SigningKey::from_secret(&a).unwrap().sign(&id, ts, &body);
        prop_assert_eq!(
            verify(&b, &id, &ts.to_string(), &signature, &body, ts, TOLERANCE),
            Err(VerifyError::NoMatchingSignature)
        );
        let both = signature_header(&[&a, &b], &id, ts, &body).unwrap();
        prop_assert_eq!(verify(&a, &id, &ts.to_string(), &both, &body, ts, TOLERANCE), Ok(()));
        prop_assert_eq!(verify(&b, &id, &ts.to_string(), &both, &body, ts, TOLERANCE), Ok(()));
    }
}

/// A clock and a timestamp for it: mostly within twice the tolerance either way (the exact edges
/// included), sometimes anywhere in `i64`.
fn clock_and_timestamp() -> impl Strategy<Value = (i64, i64)> {
    let edges = [-TOLERANCE - 1, -TOLERANCE, TOLERANCE, TOLERANCE + 1];
    (0i64..4_000_000_000).prop_flat_map(move |now| {
        let near = prop_oneof![
            3 => (-2 * TOLERANCE..=2 * TOLERANCE).prop_map(move |offset| now + offset),
            1 => prop::sample::select(edges.to_vec()).prop_map(move |offset| now + offset),
            1 => timestamp(),
        ];
        (Just(now), near)
    })
}

/// With a realistic clock, a correctly signed message is accepted exactly when its timestamp is
/// within the tolerance either way, and never panics for any timestamp. The cases land on both
/// sides of the window and on each of its edges, or the test would not show it is exact.
#[test]
fn tolerance_window_is_exact() {
    let inside = AtomicUsize::new(0);
    let outside = AtomicUsize::new(0);
    // Indexed by |ts - now| - TOLERANCE: exactly on the edge, and one second past it.
    let edge_hits = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let inputs = (secret(), id(), clock_and_timestamp(), vec(any::<u8>(), 0..64));
    let config = ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(CASES) };
    let run = TestRunner::new(config).run(&inputs, |(secret, id, (now, ts), body)| {
        let signature = SigningKey::from_secret(&secret).unwrap().sign(&id, ts, &body);
        let result = verify(&secret, &id, &ts.to_string(), &signature, &body, now, TOLERANCE);
        let distance = i128::from(now).abs_diff(i128::from(ts));
        if let Some(edge) =
            distance.checked_sub(TOLERANCE.unsigned_abs().into()).and_then(|d| edge_hits.get(d as usize))
        {
            edge.fetch_add(1, Ordering::Relaxed);
        }
        if distance <= TOLERANCE.unsigned_abs().into() {
            inside.fetch_add(1, Ordering::Relaxed);
            prop_assert_eq!(result, Ok(()));
        } else {
            outside.fetch_add(1, Ordering::Relaxed);
            let is_stale = matches!(result, Err(VerifyError::StaleTimestamp { .. }));
            prop_assert!(is_stale, "{:?}", result);
        }
        Ok(())
    });
    if let Err(err) = run {
        panic!("{err}");
    }
    let [inside, outside] = [inside, outside].map(AtomicUsize::into_inner);
    let [on_edge, past_edge] = edge_hits.map(AtomicUsize::into_inner);
    eprintln!("{inside} inside, {outside} outside, {on_edge} on the edge, {past_edge} one second past it");
    // A quarter of the cases on each side, and each edge hit: about 40 % fall inside, 60 % outside
    // and 10 % on or just past an edge, so these fail only if the generator stops reaching them.
    assert!(inside * 4 >= CASES as usize, "only {inside} of {CASES} cases inside the window");
    assert!(outside * 4 >= CASES as usize, "only {outside} of {CASES} cases outside the window");
    assert!(on_edge >= 10 && past_edge >= 10, "edges barely reached: {on_edge} on, {past_edge} past");
}
