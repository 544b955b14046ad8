use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let services = pipeline::runtime::start().await?;
    let services = &services;
    run(service_fn(move |req| async move {
        Ok::<_, Error>(pipeline::http::traced(req, |req| crm::handle(services, req)).await)
    }))
    .await
}
