//! Blobs in the audio bucket (`AUDIO_BUCKET`), through S3's REST API.
//!
//! A blob store makes five kinds of object request (put, streamed put, get, delete and a
//! presigned put), so they are sent with reqwest, the HTTPS client the providers' clients use,
//! and signed by `aws-sigv4`, the SDK's own signer. The SDK's S3 client would bring its checksum
//! engines, XML codecs and S3's endpoint rules: about a megabyte of every function that touches
//! blobs, and a checksum library that cannot be linked into a position-dependent executable
//! (`.cargo/lambda.toml`).

use crate::connectors::transport::describe;
use crate::ports::{BlobReader, BlobStore, PresignedUpload};
use crate::retry::{cut, Backoff};
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use aws_sdk_dynamodb::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningInstructions, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_types::SdkConfig;
use bytes::Bytes;
use chrono::Utc;
use futures::TryStreamExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// What stays as it is in a key's path: RFC 3986's unreserved characters and `/`.
const KEY_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Attempts at a request that fails in passing (no connection, 5xx, 503 SlowDown), as many as
/// the SDK's standard retry mode makes.
const ATTEMPTS: Backoff = Backoff {
    first_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(2),
    max_attempts: 3,
};

/// The longest a presigned URL can be valid (SigV4's limit).
const MAX_PRESIGNED_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    http: reqwest::Client,
    credentials: SharedCredentialsProvider,
    region: String,
    /// The bucket's URL, ending in `/`: an object's URL is it and the encoded key.
    bucket_url: String,
}

impl S3BlobStore {
    /// The store of `bucket` with the region, credentials and endpoint of `sdk`. AWS serves a
    /// bucket under its own host name; an explicit endpoint (moto, MinIO) serves it by path.
    pub fn new(sdk: &SdkConfig, bucket: &str) -> Result<Self> {
        let region = sdk
            .region()
            .context("configuration: S3 needs a region")?
            .to_string();
        let credentials = sdk
            .credentials_provider()
            .context("configuration: S3 needs credentials")?;
        let bucket_url = match sdk.endpoint_url() {
            Some(endpoint) => format!("{}/{bucket}/", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com/"),
        };
        // No overall timeout: a get streams a recording for as long as its reader reads.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build()
            .context("building the S3 HTTP client")?;
        Ok(S3BlobStore {
            http,
            credentials,
            region,
            bucket_url,
        })
    }

    fn object_url(&self, key: &str) -> String {
        format!("{}{}", self.bucket_url, utf8_percent_encode(key, KEY_PATH))
    }

    /// Signs a request to `url` with `headers` (which are sent and signed), now.
    async fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: SignableBody<'_>,
        location: Location,
    ) -> Result<SigningInstructions> {
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .context("S3: no credentials")?;
        sign_request(
            SigningRequest {
                method,
                url,
                headers,
                body,
                location,
            },
            credentials,
            &self.region,
            SystemTime::now(),
        )
    }

    /// Sends the request `attempt` builds (signed afresh each time), retrying what fails in
    /// passing; any other answer, success or refusal, is the caller's.
    async fn send<F, Fut>(&self, operation: &str, attempt: F) -> Result<reqwest::Response>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<reqwest::RequestBuilder>>,
    {
        let mut failure = String::new();
        for n in 0..ATTEMPTS.max_attempts {
            if n > 0 {
                tokio::time::sleep(ATTEMPTS.delay(n - 1)).await;
            }
            match attempt().await?.send().await {
                Ok(response)
                    if response.status().is_server_error()
                        || response.status() == StatusCode::TOO_MANY_REQUESTS =>
                {
                    failure = format!("status {}", response.status().as_u16());
                }
                Ok(response) => return Ok(response),
                Err(e) => failure = describe(&e),
            }
        }
        bail!(
            "S3 {operation} failed after {} attempts: {failure}",
            ATTEMPTS.max_attempts
        )
    }

    /// Sends a request without a body (GET, HEAD, DELETE) for the object `key`.
    async fn send_empty(
        &self,
        operation: &str,
        method: reqwest::Method,
        key: &str,
    ) -> Result<reqwest::Response> {
        let (url, method) = (&self.object_url(key), &method);
        self.send(operation, || async move {
            let signing = self
                .sign(
                    method.as_str(),
                    url,
                    &[],
                    SignableBody::Bytes(&[]),
                    Location::Headers,
                )
                .await?;
            let request = self.http.request(method.clone(), url);
            Ok(with_headers(request, &[], &signing))
        })
        .await
    }

    /// Puts the body `body` makes for each attempt, `length` bytes, signed as `signable`.
    async fn put_body(
        &self,
        key: &str,
        content_type: &str,
        length: u64,
        signable: SignableBody<'_>,
        body: impl Fn() -> Result<reqwest::Body>,
    ) -> Result<()> {
        let (url, length) = (&self.object_url(key), &length.to_string());
        let (signable, body) = (&signable, &body);
        let response = self
            .send("PutObject", || async move {
                let headers = [
                    ("content-length", length.as_str()),
                    ("content-type", content_type),
                ];
                let signing = self
                    .sign("PUT", url, &headers, signable.clone(), Location::Headers)
                    .await?;
                Ok(with_headers(self.http.put(url), &headers, &signing).body(body()?))
            })
            .await?;
        refused_unless_success("PutObject", response)
            .await
            .map(drop)
            .map_err(Into::into)
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<()> {
        // The payload's hash is signed, and S3 checks it.
        let signable = SignableBody::Bytes(&bytes);
        let body = || Ok(bytes.clone().into());
        self.put_body(key, content_type, bytes.len() as u64, signable, body)
            .await
    }

    async fn put_file(&self, key: &str, path: &std::path::Path, content_type: &str) -> Result<()> {
        let length = std::fs::metadata(path)
            .with_context(|| format!("reading {} for S3", path.display()))?
            .len();
        // Streamed from disk (reopened for a retry), over HTTPS, with the payload unsigned: a
        // signed hash would mean reading the whole file before sending it.
        let body = || {
            let file = std::fs::File::open(path)
                .with_context(|| format!("reading {} for S3", path.display()))?;
            let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
            Ok(reqwest::Body::wrap_stream(stream))
        };
        self.put_body(
            key,
            content_type,
            length,
            SignableBody::UnsignedPayload,
            body,
        )
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<BlobReader>> {
        let response = self
            .send_empty("GetObject", reqwest::Method::GET, key)
            .await?;
        match refused_unless_success("GetObject", response).await {
            Ok(response) => {
                let body = response.bytes_stream().map_err(std::io::Error::other);
                Ok(Some(Box::new(tokio_util::io::StreamReader::new(Box::pin(
                    body,
                )))))
            }
            Err(Refused { code, .. }) if code == "NoSuchKey" => Ok(None),
            Err(refused) => Err(refused.into()),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let response = self
            .send_empty("DeleteObject", reqwest::Method::DELETE, key)
            .await?;
        refused_unless_success("DeleteObject", response)
            .await
            .map(drop)
            .map_err(Into::into)
    }

    /// A PUT URL signed for `content_type`, exactly `content_length` bytes (S3 answers 403
    /// `SignatureDoesNotMatch` to another length) and `If-None-Match: *` (a conditional write:
    /// a second PUT to the key answers 412, so the URL works once). No checksum is asked for,
    /// as a browser cannot compute one.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedUpload> {
        if expires_in > MAX_PRESIGNED_VALIDITY {
            bail!("upload expiry is out of S3's range (at most 7 days)");
        }
        let expires_at = Utc::now()
            + chrono::Duration::from_std(expires_in).context("upload expiry is too far away")?;
        let url = self.object_url(key);
        let length = content_length.to_string();
        let signed = [
            ("content-length", length.as_str()),
            ("content-type", content_type),
            ("if-none-match", "*"),
        ];
        let signing = self
            .sign(
                "PUT",
                &url,
                &signed,
                SignableBody::UnsignedPayload,
                Location::Query { expires_in },
            )
            .await?;
        let mut url = url::Url::parse(&url).context("an S3 object URL")?;
        url.query_pairs_mut()
            .extend_pairs(signing.params().iter().map(|(k, v)| (*k, v.as_ref())));
        // The signed headers the uploader must send, but `Content-Length`, which a browser
        // takes from the body and may not be given (nor `Host`, which is not listed).
        let headers = signed
            .iter()
            .filter(|(name, _)| *name != "content-length")
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect::<BTreeMap<_, _>>();
        Ok(PresignedUpload {
            url: url.into(),
            method: "PUT",
            headers,
            expires_at,
        })
    }
}

/// Where a signature goes: request headers, or the query of a presigned URL.
#[derive(Debug, Clone, Copy)]
enum Location {
    Headers,
    Query { expires_in: Duration },
}

struct SigningRequest<'a> {
    method: &'a str,
    url: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: SignableBody<'a>,
    location: Location,
}

/// Signs `request` as S3 expects: the path encoded once and not normalised (a key is a name,
/// not a path), and on header-signed requests the payload's hash in `x-amz-content-sha256`.
fn sign_request(
    request: SigningRequest<'_>,
    credentials: aws_sdk_dynamodb::config::Credentials,
    region: &str,
    time: SystemTime,
) -> Result<SigningInstructions> {
    let identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    match request.location {
        Location::Headers => settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256,
        Location::Query { expires_in } => {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(expires_in);
        }
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .context("S3 signing parameters")?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request.headers.iter().copied(),
        request.body,
    )
    .context("an S3 request to sign")?;
    Ok(sign(signable, &params)
        .context("signing an S3 request")?
        .into_parts()
        .0)
}

/// `request` with the headers it was signed with and those the signature adds.
fn with_headers(
    mut request: reqwest::RequestBuilder,
    headers: &[(&str, &str)],
    signing: &SigningInstructions,
) -> reqwest::RequestBuilder {
    for (name, value) in headers.iter().copied().chain(signing.headers()) {
        request = request.header(name, value);
    }
    request
}

/// An answer S3 refused with, by its error code (`NoSuchKey`, `AccessDenied`, ...).
#[derive(Debug, thiserror::Error)]
#[error("S3 {operation} was refused: {status} {code}: {message}")]
struct Refused {
    operation: &'static str,
    status: u16,
    code: String,
    message: String,
}

async fn refused_unless_success(
    operation: &'static str,
    response: reqwest::Response,
) -> std::result::Result<reqwest::Response, Refused> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let field = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(cut(&body[start..end], 300))
    };
    Err(Refused {
        operation,
        status: status.as_u16(),
        code: field("Code").unwrap_or_default(),
        message: field("Message").unwrap_or_default(),
    })
}

/// Creating the bucket (`create_resources`) and looking at an object's metadata, for tests and
/// dev tooling.
#[cfg(feature = "testing")]
impl S3BlobStore {
    /// The `Content-Type` the object `key` was stored with; `None` when there is no such object.
    pub async fn content_type(&self, key: &str) -> Result<Option<String>> {
        let response = self
            .send_empty("HeadObject", reqwest::Method::HEAD, key)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = refused_unless_success("HeadObject", response).await?;
        Ok(response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    pub async fn create_bucket(&self) -> Result<()> {
        // us-east-1 is the one region that refuses an explicit location constraint.
        let configuration = (self.region != "us-east-1").then(|| {
            format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                self.region
            )
        });
        let body = configuration.unwrap_or_default();
        let url = &self.bucket_url;
        let body = &body;
        let response = self
            .send("CreateBucket", || async move {
                let signing = self
                    .sign(
                        "PUT",
                        url,
                        &[],
                        SignableBody::Bytes(body.as_bytes()),
                        Location::Headers,
                    )
                    .await?;
                Ok(with_headers(self.http.put(url), &[], &signing).body(body.clone()))
            })
            .await?;
        refused_unless_success("CreateBucket", response)
            .await
            .map(drop)
            .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::Credentials;

    fn example_credentials() -> Credentials {
        Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "example",
        )
    }

    fn may_24_2013() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    /// S3's own worked example of a header-signed GET (Amazon S3 API reference, "Signature
    /// calculations for the Authorization header", GET Object).
    #[test]
    fn a_get_is_signed_as_s3s_worked_example() {
        let signing = sign_request(
            SigningRequest {
                method: "GET",
                url: "https://examplebucket.s3.amazonaws.com/test.txt",
                headers: &[("range", "bytes=0-9")],
                body: SignableBody::Bytes(&[]),
                location: Location::Headers,
            },
            example_credentials(),
            "us-east-1",
            may_24_2013(),
        )
        .unwrap();
        let headers: BTreeMap<&str, &str> = signing.headers().collect();
        assert_eq!(
            headers["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(
            headers["x-amz-content-sha256"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// S3's worked example of a presigned GET (Amazon S3 API reference, "Authenticating
    /// requests: using query parameters"), signed with the settings a presigned upload uses.
    #[test]
    fn a_presigned_url_is_signed_as_s3s_worked_example() {
        let signing = sign_request(
            SigningRequest {
                method: "GET",
                url: "https://examplebucket.s3.amazonaws.com/test.txt",
                headers: &[],
                body: SignableBody::UnsignedPayload,
                location: Location::Query {
                    expires_in: Duration::from_secs(86_400),
                },
            },
            example_credentials(),
            "us-east-1",
            may_24_2013(),
        )
        .unwrap();
        let params: BTreeMap<&str, &str> = signing
            .params()
            .iter()
            .map(|(k, v)| (*k, v.as_ref()))
            .collect();
        assert_eq!(params["X-Amz-SignedHeaders"], "host");
        assert_eq!(params["X-Amz-Expires"], "86400");
        assert_eq!(
            params["X-Amz-Signature"],
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    fn sdk(endpoint: Option<&str>) -> SdkConfig {
        let mut sdk = SdkConfig::builder()
            .region(aws_types::region::Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(example_credentials()));
        if let Some(url) = endpoint {
            sdk = sdk.endpoint_url(url);
        }
        sdk.build()
    }

    /// A request as a loopback stand-in for S3 got it.
    struct Received {
        /// The request line and headers, lower-cased.
        head: String,
        body: Vec<u8>,
    }

    /// A loopback stand-in for S3 (moto accepts what S3 refuses, and never fails in passing)
    /// that answers the requests it gets with `answers` in turn, each a status line and a
    /// body, on whatever connections they come; it returns the requests.
    async fn stand_in(
        answers: Vec<(&'static str, &'static str)>,
    ) -> (String, tokio::task::JoinHandle<Vec<Received>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let mut received = Vec::new();
            let mut answers = answers.into_iter().peekable();
            while answers.peek().is_some() {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 64 * 1024];
                // Requests on this connection, while it stays open and answers remain.
                loop {
                    let head_end = loop {
                        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break Some(i + 4);
                        }
                        match socket.read(&mut chunk).await.unwrap() {
                            0 => break None,
                            n => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let Some(head_end) = head_end else { break };
                    let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
                    let length = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length: "))
                        .map(|n| n.trim().parse::<usize>().unwrap());
                    // The body: as long as declared, or chunks up to the last, empty one.
                    let complete = |buffer: &[u8]| match length {
                        Some(n) => buffer.len() >= head_end + n,
                        None if head.contains("transfer-encoding: chunked") => {
                            buffer.ends_with(b"\r\n0\r\n\r\n")
                        }
                        None => true,
                    };
                    while !complete(&buffer) {
                        let n = socket.read(&mut chunk).await.unwrap();
                        assert!(n > 0, "the request ended early");
                        buffer.extend_from_slice(&chunk[..n]);
                    }
                    let end = length.map_or(buffer.len(), |n| head_end + n);
                    received.push(Received {
                        head,
                        body: buffer[head_end..end].to_vec(),
                    });
                    buffer.drain(..end);
                    let (status, body) = answers.next().unwrap();
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    socket.write_all(answer.as_bytes()).await.unwrap();
                    if answers.peek().is_none() {
                        break;
                    }
                }
            }
            received
        });
        (endpoint, server)
    }

    /// S3 refuses a PUT without a length (or one sent in plain chunked encoding), so a file is
    /// streamed with its length declared.
    #[tokio::test]
    async fn a_file_is_streamed_with_its_length_declared() {
        let (endpoint, server) = stand_in(vec![("200 OK", "")]).await;
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), vec![b'x'; 200_000]).unwrap();
        let store = S3BlobStore::new(&sdk(Some(&endpoint)), "audio").unwrap();
        store
            .put_file("media/call.mp4", file.path(), "video/mp4")
            .await
            .unwrap();
        let received = server.await.unwrap();
        let head = &received[0].head;
        assert!(
            head.starts_with("put /audio/media/call.mp4 http/1.1"),
            "{head}"
        );
        assert!(head.contains("\r\ncontent-length: 200000"), "{head}");
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert!(
            head.contains("\r\nx-amz-content-sha256: unsigned-payload"),
            "{head}"
        );
        assert!(
            head.contains("\r\nauthorization: aws4-hmac-sha256 "),
            "{head}"
        );
        assert_eq!(received[0].body.len(), 200_000);
    }

    /// S3 answers 503 SlowDown when a prefix is busy; the request is signed and sent again,
    /// and a refusal (403, 404) is reported with S3's code and message, never retried.
    #[tokio::test]
    async fn slow_down_is_retried_and_a_refusal_is_reported_as_s3_words_it() {
        let slow_down = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        let denied = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        let (endpoint, server) = stand_in(vec![
            ("503 Slow Down", slow_down),
            ("200 OK", ""),
            ("403 Forbidden", denied),
        ])
        .await;
        let store = S3BlobStore::new(&sdk(Some(&endpoint)), "audio").unwrap();
        store
            .put(
                "webhooks/p.json",
                Bytes::from_static(b"{}"),
                "application/json",
            )
            .await
            .unwrap();
        let refused = store.delete("webhooks/p.json").await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "S3 DeleteObject was refused: 403 AccessDenied: Access Denied"
        );
        let received = server.await.unwrap();
        let lines: Vec<&str> = received
            .iter()
            .map(|r| r.head.lines().next().unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                "put /audio/webhooks/p.json http/1.1",
                "put /audio/webhooks/p.json http/1.1",
                "delete /audio/webhooks/p.json http/1.1",
            ]
        );
        assert_eq!(received[1].body, b"{}");
    }

    #[test]
    fn keys_are_encoded_once_with_their_slashes_kept() {
        let store = S3BlobStore::new(&sdk(None), "audio").unwrap();
        assert_eq!(
            store.object_url("uploads/alice/u 1/räum+call.mp3"),
            "https://audio.s3.eu-west-1.amazonaws.com/uploads/alice/u%201/r%C3%A4um%2Bcall.mp3"
        );
    }
}
