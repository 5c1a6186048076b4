//! Amazon Titan text embeddings through Bedrock, for production (`EMBEDDER=bedrock`).

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::primitives::Blob;
use serde::Deserialize;
use serde_json::json;

use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use markets_core::embedder::{DIMENSIONS, EmbedError, Embedder};
use markets_core::error::BoxError;

pub struct BedrockEmbedder {
    client: Client,
    model_id: String,
}

impl BedrockEmbedder {
    pub fn new(client: Client, model_id: impl Into<String>) -> Self {
        Self { client, model_id: model_id.into() }
    }
}

#[derive(Deserialize)]
struct TitanResponse {
    embedding: Vec<f32>,
}

#[async_trait]
impl Embedder for BedrockEmbedder {
    async fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        // Titan v2 returns a unit vector when asked to normalise.
        let body = json!({ "inputText": text, "dimensions": DIMENSIONS, "normalize": true });
        let output = self
            .client
            .invoke_model()
            .model_id(&self.model_id)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body.to_string()))
            .send()
            .await
            .map_err(|error| {
                const TRANSIENT: [&str; 4] = [
                    "ThrottlingException",
                    "ServiceUnavailableException",
                    "ModelNotReadyException",
                    "InternalServerException",
                ];
                let transient = match &error {
                    SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
                    other => other.code().is_some_and(|code| TRANSIENT.contains(&code)),
                };
                let source: BoxError = DisplayErrorContext(error).to_string().into();
                if transient { EmbedError::Transient(source) } else { EmbedError::Permanent(source) }
            })?;
        let response: TitanResponse =
            serde_json::from_slice(output.body().as_ref()).map_err(|e| EmbedError::Permanent(e.into()))?;
        Ok(response.embedding)
    }
}
