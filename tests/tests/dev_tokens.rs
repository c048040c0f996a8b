//! App tokens end to end through `patchbay dev` as a process and the `patchbay tokens` CLI:
//! create (printed once), use (own app only), list (no token), revoke (refused at once).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

use patchbay_e2e::DevServer;
use reqwest::Method;
use serde_json::{Value, json};

fn run(output: Output) -> (bool, String, String) {
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

async fn with_token(
    dev: &DevServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = dev.http().request(method, format!("{}{path}", dev.base)).bearer_auth(token);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_by_the_cli_manages_its_app_until_revoked() {
    let dev = DevServer::start(&[]);
    for app in ["studio-a", "studio-b"] {
        let (status, body) = dev
            .admin(Method::POST, "/v1/apps", Some(json!({"id": app, "name": app, "display_name": app})))
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // Create: the token is printed once, with its id.
    let (ok, out, err) =
        run(dev.cli().args(["tokens", "create", "--app", "studio-a", "--name", "console"]).output().unwrap());
    assert!(ok, "{out}{err}");
    let token = out.split_whitespace().find(|w| w.starts_with("pbt_")).expect("token printed").to_owned();
    let token_id = out.split_whitespace().find(|w| w.starts_with("tok_")).expect("id printed").to_owned();
    assert!(out.contains("not shown again"), "{out}");

    // Use: its own app works, another app is a 404 like a missing one.
    let (status, app) = with_token(&dev, &token, Method::GET, "/v1/apps/studio-a", None).await;
    assert_eq!((status, app["id"].as_str()), (200, Some("studio-a")), "{app}");
    let hook = json!({"events": ["version_published"], "method": "POST", "url": "https://example.com/hook"});
    let (status, made) =
        with_token(&dev, &token, Method::POST, "/v1/apps/studio-a/webhooks", Some(hook)).await;
    assert_eq!(status, 201, "{made}");
    let (status, other) = with_token(&dev, &token, Method::GET, "/v1/apps/studio-b/webhooks", None).await;
    let (_, missing) = with_token(&dev, &token, Method::GET, "/v1/apps/studio-zz/webhooks", None).await;
    assert_eq!(status, 404, "{other}");
    assert_eq!(other.to_string().replace("studio-b", "X"), missing.to_string().replace("studio-zz", "X"));
    // The CLI with an app token instead of the admin token: admin-only commands are refused.
    let (ok, _, err) = run(dev
        .cli()
        .env("PATCHBAY_ADMIN_TOKEN", &token)
        .args(["tokens", "list", "--app", "studio-a"])
        .output()
        .unwrap());
    assert!(!ok && err.contains("403"), "{err}");

    // List: id, name and last use; never the token.
    let (ok, out, err) = run(dev.cli().args(["tokens", "list", "--app", "studio-a"]).output().unwrap());
    assert!(ok, "{err}");
    assert!(out.contains(&token_id) && out.contains("console"), "{out}");
    assert!(!out.contains(&token), "{out}");
    let (ok, out, _) =
        run(dev.cli().args(["tokens", "list", "--app", "studio-a", "--json"]).output().unwrap());
    assert!(ok);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert!(listed["tokens"][0]["last_used_at"].is_string(), "{listed}");
    assert!(!out.contains(&token));

    // Revoke: refused on the very next request.
    let (ok, out, err) = run(dev.cli().args(["tokens", "revoke", &token_id]).output().unwrap());
    assert!(ok && out.contains(&token_id), "{out}{err}");
    let (status, body) = with_token(&dev, &token, Method::GET, "/v1/apps/studio-a", None).await;
    assert_eq!(status, 401, "{body}");
    let (ok, _, err) = run(dev.cli().args(["tokens", "revoke", &token_id]).output().unwrap());
    assert!(!ok && err.contains("404"), "{err}");

    // Never logged.
    assert!(!dev.logs().contains(&token), "the token was logged");
}
