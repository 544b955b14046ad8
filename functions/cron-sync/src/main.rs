use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let services = pipeline::runtime::start().await?;
    let services = &services;
    run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent>| async move {
            cron_sync::handle(services, event.payload)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
