use patchbay_core::config::{Env, IngestConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = IngestConfig::from_env(&Env::process())?;
    let router = ingest::router(&config).await?;
    lambda_http::run(router).await
}
