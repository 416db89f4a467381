//! Sends one logical call, repeating it when the service asks for patience (429, 503,
//! 504) or the connection fails, within the limits of a [`RetryPolicy`].
//!
//! Every logical call gets a fresh `client-request-id` GUID that stays the same across
//! its retries, so Microsoft support can correlate all attempts; it is logged together
//! with the `request-id` the service returns. Bodies are never logged.
use super::{error_chain, RetryPolicy};
use reqwest::{Client, RequestBuilder, Response};
use std::time::{Duration, Instant};

/// Whether a call may be sent again when its first attempt may have been processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Repeating has no further effect (GET, DELETE, read-only POSTs, token requests):
    /// retried after 429, 503, 504 and any connection failure.
    Idempotent,
    /// The call changes state (create a TAP, register a key): retried only when the
    /// service certainly did not act on it: 429, 503, or a connection that never opened.
    NotIfProcessed,
}

/// A response (of any status) after retries, with the ids that identify the call.
pub(crate) struct Exchange {
    pub response: Response,
    pub client_request_id: String,
    pub request_id: Option<String>,
    /// A `Retry-After` that was too long to sit through (the call was given up).
    pub retry_after: Option<Duration>,
}

/// The call never got an HTTP response.
#[derive(Debug, Clone)]
pub(crate) struct TransportFailure {
    pub client_request_id: String,
    pub attempts: u32,
    pub message: String,
}

/// A reqwest client plus the retry policy that governs it.
#[derive(Debug, Clone)]
pub(crate) struct HttpSender {
    client: Client,
    retry: RetryPolicy,
}

impl HttpSender {
    pub fn new(client: Client, retry: RetryPolicy) -> Self {
        HttpSender { client, retry }
    }

    /// Send the request `build` makes (called again for every attempt, so that e.g. a
    /// client assertion with a fresh `jti` can be signed per attempt) under a fresh
    /// `client-request-id`.
    pub async fn send<F>(&self, call: &'static str, replay: Replay, build: F) -> Result<Exchange, TransportFailure>
    where
        F: Fn(&Client) -> Result<RequestBuilder, String>,
    {
        self.send_as(call, replay, &new_client_request_id(), build).await
    }

    /// [`HttpSender::send`] under a `client-request-id` chosen by the caller (to keep it
    /// across a re-authentication of the same logical call).
    pub async fn send_as<F>(&self, call: &'static str, replay: Replay, client_request_id: &str, build: F) -> Result<Exchange, TransportFailure>
    where
        F: Fn(&Client) -> Result<RequestBuilder, String>,
    {
        let client_request_id = client_request_id.to_string();
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let failure = |message: String| TransportFailure { client_request_id: client_request_id.clone(), attempts: attempt, message };
            let request = build(&self.client)
                .map_err(&failure)?
                .header("client-request-id", &client_request_id)
                .header("return-client-request-id", "true")
                .build()
                .map_err(|e| failure(format!("cannot build the request: {}", error_chain(&e))))?;
            let method = request.method().clone();
            let path = request.url().path().to_string();
            tracing::debug!(call, %method, %path, client_request_id = %client_request_id, attempt, "HTTP request");
            let started = Instant::now();
            match self.client.execute(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let request_id = header(&response, "request-id");
                    tracing::debug!(
                        call, status, request_id = request_id.as_deref().unwrap_or("-"), client_request_id = %client_request_id,
                        elapsed_ms = started.elapsed().as_millis() as u64, "HTTP response"
                    );
                    let retryable = match status {
                        429 | 503 => true,
                        504 => replay == Replay::Idempotent,
                        _ => false,
                    };
                    let advertised = header(&response, "retry-after").and_then(|v| super::parse_retry_after(&v));
                    let too_long = advertised.is_some_and(|d| d > self.retry.max_retry_after);
                    if !retryable || attempt >= max_attempts || too_long {
                        return Ok(Exchange { response, client_request_id, request_id, retry_after: advertised });
                    }
                    let wait = advertised.unwrap_or_else(|| self.retry.backoff(attempt - 1));
                    tracing::warn!(
                        call, status, wait_ms = wait.as_millis() as u64, server_advertised = advertised.is_some(),
                        request_id = request_id.as_deref().unwrap_or("-"), client_request_id = %client_request_id, attempt,
                        "service asked us to wait; retrying"
                    );
                    // Free the connection before sleeping.
                    drop(response);
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    let message = error_chain(&e);
                    // A connection that never opened carried nothing, so even a POST is safe.
                    let safe = e.is_connect() || replay == Replay::Idempotent;
                    if !safe || attempt >= max_attempts {
                        tracing::warn!(call, client_request_id = %client_request_id, attempt, error = %message, "HTTP call failed");
                        return Err(TransportFailure { client_request_id, attempts: attempt, message });
                    }
                    let wait = self.retry.connection_backoff(attempt - 1);
                    tracing::warn!(
                        call, client_request_id = %client_request_id, attempt, wait_ms = wait.as_millis() as u64, error = %message,
                        "connection failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// A fresh `client-request-id` (a GUID without braces).
pub(crate) fn new_client_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}
