//! The default embedder: no network, no model. Words and character trigrams are hashed into a
//! fixed number of dimensions (the "hashing trick") and the vector is L2-normalised. It finds
//! shared words and word pieces, not meaning; Bedrock does that in production.

use async_trait::async_trait;

use super::{DIMENSIONS, EmbedError, Embedder};
use crate::stable_hash::fnv1a;

#[derive(Debug, Default, Clone, Copy)]
pub struct HashingEmbedder;

impl HashingEmbedder {
    pub fn embed_now(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0f32; DIMENSIONS];
        let mut add = |feature: &str, weight: f32| {
            let hash = fnv1a(feature.as_bytes());
            // The sign bit spreads collisions out instead of letting them pile up.
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[(hash % DIMENSIONS as u64) as usize] += sign * weight;
        };
        let lowered = text.to_lowercase();
        let words: Vec<&str> = lowered.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 1).collect();
        for word in &words {
            add(&format!("w:{word}"), 1.0);
            let padded: Vec<char> = format!(" {word} ").chars().collect();
            for trigram in padded.windows(3) {
                add(&format!("c:{}", trigram.iter().collect::<String>()), 0.3);
            }
        }
        // A text with no word of two or more characters ("?", "A") is one feature as a whole: a
        // cosine index refuses an all-zero vector, as a query or as a stored market.
        if words.is_empty() {
            add(&format!("t:{}", lowered.trim()), 1.0);
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        vector
    }
}

#[async_trait]
impl Embedder for HashingEmbedder {
    async fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed_now(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::cosine;

    #[test]
    fn is_deterministic_normalised_and_finds_shared_words() {
        let embedder = HashingEmbedder;
        let rain = embedder.embed_now("Will it rain in Paris tomorrow?");
        assert_eq!(rain, embedder.embed_now("Will it rain in Paris tomorrow?"));
        assert!((rain.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
        let query = embedder.embed_now("rain Paris");
        let other = embedder.embed_now("Will Bitcoin close above its all-time high?");
        assert!(cosine(&query, &rain) > cosine(&query, &other) + 0.2);
        for featureless in ["", "?", "A", "!!"] {
            let vector = embedder.embed_now(featureless);
            assert!((vector.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4, "{featureless:?}");
        }
    }
}
