use lambda_runtime::{LambdaEvent, service_fn};
use patchbay_core::config::{DeliverConfig, Env};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = DeliverConfig::from_env(&Env::process())?;
    let handler = deliver::Handler::from_config(&config).await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response = handler.handle_invocation(event.payload, Some(&event.context.request_id)).await;
        Ok::<SqsBatchResponse, lambda_runtime::Error>(response)
    }))
    .await
}
