use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let services = pipeline::runtime::start().await?;
    let services = &services;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = file_transcribe::deadline(event.context.deadline);
        Ok::<_, Error>(file_transcribe::handle(services, event.payload, deadline).await)
    }))
    .await
}
