//! What the domain crate and the game-side client may depend on, checked on the resolved graph.
//!
//! `patchbay-core` holds no AWS SDK: adapters do, so the domain builds and tests without it.
//! `patchbay-license-client` is embedded in games: no AWS SDK either, and no HTTP server (axum,
//! hyper's or hyper-util's server side), which a game has no use for and which would grow every
//! game binary. The checks read `cargo tree` for each crate on its own, so features are resolved
//! exactly as when that crate is built alone (in the workspace, core turns hyper's server on).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Crates of the AWS SDK and its runtime (`aws-lc-rs`, rustls' crypto, is not one of them).
const AWS_SDK_PREFIXES: &[&str] = &[
    "aws-sdk-",
    "aws-smithy-",
    "aws-config",
    "aws-runtime",
    "aws-types",
    "aws-credential-types",
    "aws-sigv4",
];

/// Features that bring an HTTP server into hyper and hyper-util.
const SERVER_FEATURES: &[(&str, &[&str])] =
    &[("hyper", &["server"]), ("hyper-util", &["server", "server-auto", "server-graceful"])];

/// Every package in `package`'s normal (non-dev, non-build) dependency graph on this host, with
/// its enabled features. Offline: the lockfile and the registry cache are there once the
/// workspace has been built, which running this test needs anyway.
fn normal_dependencies(package: &str) -> BTreeMap<String, Vec<String>> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&workspace)
        .args(["tree", "--offline", "--package", package, "--edges", "normal", "--prefix", "none"])
        .args(["--format", "{p}|{f}"])
        .output()
        .expect("run cargo tree");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo tree -p {package} failed:\n{stderr}");
    let mut packages = BTreeMap::new();
    for line in String::from_utf8(output.stdout).unwrap().lines().filter(|l| !l.is_empty()) {
        // `name v1.2.3 (path)|feature,feature` and ` (*)` after a repeated package.
        let (package, features) = line.split_once('|').unwrap_or((line, ""));
        let name = package.split_whitespace().next().unwrap().to_owned();
        let features = features.trim_end_matches(" (*)").split(',').filter(|f| !f.is_empty());
        // Two versions of one crate: the union of their features.
        packages.entry(name).or_insert_with(Vec::new).extend(features.map(str::to_owned));
    }
    assert!(packages.contains_key(package), "{package} missing from its own tree: {packages:?}");
    packages
}

/// The AWS SDK crates among `dependencies`.
fn aws_sdk_crates(dependencies: &BTreeMap<String, Vec<String>>) -> Vec<&str> {
    dependencies
        .keys()
        .map(String::as_str)
        .filter(|name| AWS_SDK_PREFIXES.iter().any(|prefix| name.starts_with(prefix)))
        .collect()
}

/// The HTTP server crates and server features among `dependencies`, as `crate` or
/// `crate/feature`.
fn http_servers(dependencies: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut found: Vec<String> =
        dependencies.keys().filter(|name| name.starts_with("axum")).cloned().collect();
    for (name, server_features) in SERVER_FEATURES {
        for feature in dependencies.get(*name).into_iter().flatten() {
            if server_features.contains(&feature.as_str()) {
                found.push(format!("{name}/{feature}"));
            }
        }
    }
    found
}

#[test]
fn core_has_no_aws_sdk() {
    let dependencies = normal_dependencies("patchbay-core");
    assert_eq!(aws_sdk_crates(&dependencies), Vec::<&str>::new(), "patchbay-core gained AWS SDK crates");
}

#[test]
fn license_client_has_no_aws_sdk_and_no_http_server() {
    let dependencies = normal_dependencies("patchbay-license-client");
    assert_eq!(
        aws_sdk_crates(&dependencies),
        Vec::<&str>::new(),
        "patchbay-license-client gained AWS SDK crates"
    );
    assert_eq!(http_servers(&dependencies), Vec::<String>::new(), "patchbay-license-client gained a server");
    // Still an HTTP client: the feature parsing above reads the graph it thinks it reads.
    assert!(dependencies.get("hyper").is_some_and(|f| f.iter().any(|f| f == "client")), "{dependencies:?}");
}

/// The guards catch what they look for: the adapters crate has the SDK, and core has axum with
/// hyper's server.
#[test]
fn guards_see_known_dependencies() {
    let adapters = normal_dependencies("patchbay-adapters");
    assert!(aws_sdk_crates(&adapters).contains(&"aws-sdk-dynamodb"), "{adapters:?}");
    assert!(aws_sdk_crates(&adapters).contains(&"aws-config"), "{adapters:?}");
    let core = normal_dependencies("patchbay-core");
    let servers = http_servers(&core);
    assert!(
        servers.iter().any(|s| s == "axum") && servers.iter().any(|s| s == "hyper/server"),
        "{servers:?}"
    );
}
