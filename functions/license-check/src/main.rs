use patchbay_core::config::{Env, LicenseCheckConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = LicenseCheckConfig::from_env(&Env::process())?;
    let router = license_check::router(&config).await?;
    lambda_http::run(router).await
}
