//! Access tokens: signing (HS256 with the secret, or the signing key of a JWK
//! set: RS256 or ES256), the public JWK set, and verification of our own
//! tokens and of a trusted external issuer's (a real Supabase project).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use crate::{
    config::{AuthConfig, ExternalIssuer},
    error::ConfigError,
};

/// One key that verifies, and maybe signs.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    /// The public JWK, for asymmetric keys.
    public: Option<Value>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// Which issuer a verified token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Local,
    External,
}

/// Why a token was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(String),
    #[error("token has expired")]
    Expired,
}

#[derive(Debug)]
pub struct Keys {
    local: Vec<Key>,
    signer: usize,
    external: Vec<Key>,
    external_issuer: String,
    aud: String,
}

impl Keys {
    pub fn from_config(auth: &AuthConfig) -> Result<Self, ConfigError> {
        let mut local = Vec::new();
        let mut signer = None;
        if let Some(set) = &auth.jwt_keys {
            for (i, jwk) in parse_jwk_set(set)?.iter().enumerate() {
                let key = key_from_jwk(jwk).map_err(|e| ConfigError::Invalid(format!("GOTRUE_JWT_KEYS key {i}: {e}")))?;
                let ops: Vec<&str> =
                    jwk.get("key_ops").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                if ops.contains(&"sign") && key.encoding.is_some() && signer.is_none() {
                    signer = Some(local.len());
                }
                local.push(key);
            }
        }
        if let Some(secret) = &auth.jwt_secret {
            if signer.is_none() {
                signer = Some(local.len());
            }
            local.push(Key {
                kid: None,
                alg: Algorithm::HS256,
                decoding: DecodingKey::from_secret(secret.as_bytes()),
                encoding: Some(EncodingKey::from_secret(secret.as_bytes())),
                public: None,
            });
        }
        let signer = signer.ok_or_else(|| {
            ConfigError::Invalid(
                "no signing key: GOTRUE_JWT_KEYS has no private key with key_ops [\"sign\"] and GOTRUE_JWT_SECRET is unset".into(),
            )
        })?;
        let mut external = Vec::new();
        let mut external_issuer = String::new();
        if let Some(ExternalIssuer { issuer, jwt_secret, jwks }) = &auth.external_issuer {
            external_issuer = issuer.clone();
            if let Some(s) = jwt_secret {
                external.push(Key {
                    kid: None,
                    alg: Algorithm::HS256,
                    decoding: DecodingKey::from_secret(s.as_bytes()),
                    encoding: None,
                    public: None,
                });
            }
            if let Some(set) = jwks {
                for (i, jwk) in parse_jwk_set(set)?.iter().enumerate() {
                    let mut key =
                        key_from_jwk(jwk).map_err(|e| ConfigError::Invalid(format!("ARGUS_EXTERNAL_JWKS key {i}: {e}")))?;
                    key.encoding = None;
                    external.push(key);
                }
            }
        }
        Ok(Self { local, signer, external, external_issuer, aud: auth.jwt_aud.clone() })
    }

    /// Signs `claims` with the signing key.
    pub fn sign(&self, claims: &Value) -> String {
        let key = &self.local[self.signer];
        let mut header = Header::new(key.alg);
        header.kid = key.kid.clone();
        let enc = key.encoding.as_ref().unwrap_or_else(|| unreachable!("the signer has an encoding key"));
        // Encoding a JSON value with a valid key cannot fail.
        jsonwebtoken::encode(&header, claims, enc).unwrap_or_default()
    }

    /// The public keys, as `/.well-known/jwks.json` serves them (HS256
    /// secrets are never published).
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.local.iter().filter_map(|k| k.public.clone()).collect::<Vec<_>>() })
    }

    /// Verifies a token's signature, expiry and, for user tokens, audience.
    pub fn verify(&self, token: &str) -> Result<(Value, Source), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(format!("malformed token ({e})")))?;
        let mut last = TokenError::Invalid("no key matches the token's algorithm and key id".into());
        for (keys, source) in [(&self.local, Source::Local), (&self.external, Source::External)] {
            for key in keys.iter().filter(|k| k.alg == header.alg && (header.kid.is_none() || k.kid == header.kid || k.kid.is_none())) {
                let mut v = Validation::new(key.alg);
                v.leeway = 0;
                v.validate_aud = false;
                v.required_spec_claims = ["exp"].into_iter().map(String::from).collect();
                match jsonwebtoken::decode::<Value>(token, &key.decoding, &v) {
                    Ok(data) => {
                        let claims = data.claims;
                        self.check_claims(&claims, source)?;
                        return Ok((claims, source));
                    }
                    Err(e) => {
                        last = match e.kind() {
                            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                            _ => TokenError::Invalid(format!("signature or claims invalid ({e})")),
                        };
                        if matches!(last, TokenError::Expired) {
                            return Err(last);
                        }
                    }
                }
            }
        }
        Err(last)
    }

    fn check_claims(&self, claims: &Value, source: Source) -> Result<(), TokenError> {
        let role = claims.get("role").and_then(Value::as_str).unwrap_or("");
        if role.is_empty() {
            return Err(TokenError::Invalid("the token has no role claim".into()));
        }
        if role == "authenticated" {
            let aud_ok = match claims.get("aud") {
                Some(Value::String(a)) => *a == self.aud,
                Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(&self.aud)),
                _ => false,
            };
            if !aud_ok {
                return Err(TokenError::Invalid(format!("the token's audience is not \"{}\"", self.aud)));
            }
            if claims.get("sub").and_then(Value::as_str).is_none_or(|s| uuid::Uuid::parse_str(s).is_err()) {
                return Err(TokenError::Invalid("the token's sub is not a user id".into()));
            }
        }
        if source == Source::External && !self.external_issuer.is_empty() {
            let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
            if iss != self.external_issuer {
                return Err(TokenError::Invalid(format!("issuer '{iss}' is not trusted")));
            }
        }
        Ok(())
    }
}

fn parse_jwk_set(text: &str) -> Result<Vec<Value>, ConfigError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ConfigError::Invalid(format!("a JWK set is not JSON ({e})")))?;
    match v {
        Value::Array(a) => Ok(a),
        Value::Object(ref o) if o.contains_key("keys") => {
            Ok(o.get("keys").and_then(Value::as_array).cloned().unwrap_or_default())
        }
        Value::Object(_) => Ok(vec![v]),
        _ => Err(ConfigError::Invalid("a JWK set must be an array of keys or {\"keys\": [...]}".into())),
    }
}

fn b64(jwk: &Value, field: &str) -> Result<Vec<u8>, String> {
    let s = jwk.get(field).and_then(Value::as_str).ok_or_else(|| format!("missing \"{field}\""))?;
    B64.decode(s.trim_end_matches('=')).map_err(|_| format!("\"{field}\" is not base64url"))
}

fn key_from_jwk(jwk: &Value) -> Result<Key, String> {
    let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    match kty {
        "oct" => {
            let k = b64(jwk, "k")?;
            Ok(Key {
                kid,
                alg: Algorithm::HS256,
                decoding: DecodingKey::from_secret(&k),
                encoding: Some(EncodingKey::from_secret(&k)),
                public: None,
            })
        }
        "EC" => {
            if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
                return Err("only EC keys on P-256 (ES256) are supported".into());
            }
            let (x, y) = (b64(jwk, "x")?, b64(jwk, "y")?);
            let decoding = DecodingKey::from_ec_components(&B64.encode(&x), &B64.encode(&y)).map_err(|e| e.to_string())?;
            let encoding = match b64(jwk, "d") {
                Ok(d) => {
                    use p256::pkcs8::EncodePrivateKey;
                    let sk = p256::SecretKey::from_slice(&d).map_err(|_| "\"d\" is not a P-256 private key".to_owned())?;
                    let der = sk.to_pkcs8_der().map_err(|e| e.to_string())?;
                    Some(EncodingKey::from_ec_der(der.as_bytes()))
                }
                Err(_) => None,
            };
            let public = json!({"kty": "EC", "crv": "P-256", "x": B64.encode(&x), "y": B64.encode(&y),
                "alg": "ES256", "use": "sig", "key_ops": ["verify"], "kid": kid});
            Ok(Key { kid, alg: Algorithm::ES256, decoding, encoding, public: Some(public) })
        }
        "RSA" => {
            let (n, e) = (b64(jwk, "n")?, b64(jwk, "e")?);
            let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
            let encoding = match b64(jwk, "d") {
                Ok(d) => {
                    use rsa::{BigUint, pkcs1::EncodeRsaPrivateKey};
                    let mut primes = Vec::new();
                    for f in ["p", "q"] {
                        if let Ok(p) = b64(jwk, f) {
                            primes.push(BigUint::from_bytes_be(&p));
                        }
                    }
                    let key = rsa::RsaPrivateKey::from_components(
                        BigUint::from_bytes_be(&n),
                        BigUint::from_bytes_be(&e),
                        BigUint::from_bytes_be(&d),
                        primes,
                    )
                    .map_err(|e| format!("not a valid RSA private key ({e})"))?;
                    let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
                    Some(EncodingKey::from_rsa_der(der.as_bytes()))
                }
                Err(_) => None,
            };
            let public = json!({"kty": "RSA", "n": B64.encode(&n), "e": B64.encode(&e),
                "alg": "RS256", "use": "sig", "key_ops": ["verify"], "kid": kid});
            Ok(Key { kid, alg: Algorithm::RS256, decoding, encoding, public: Some(public) })
        }
        other => Err(format!("key type '{other}' is not supported; use oct (HS256), EC P-256 (ES256) or RSA (RS256)")),
    }
}

/// A new ES256 signing key as a JWK (with its private part), for
/// `argus-server keys generate`.
pub fn generate_es256_jwk() -> Value {
    let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let point = {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        sk.public_key().to_encoded_point(false)
    };
    let x = point.x().map(|b| B64.encode(b)).unwrap_or_default();
    let y = point.y().map(|b| B64.encode(b)).unwrap_or_default();
    json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
        "kid": uuid::Uuid::new_v4().to_string(),
        "key_ops": ["sign", "verify"],
        "x": x, "y": y, "d": B64.encode(sk.to_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(secret: Option<&str>, keys: Option<String>) -> AuthConfig {
        AuthConfig { jwt_secret: secret.map(str::to_owned), jwt_keys: keys, ..AuthConfig::default() }
    }

    fn user_claims(exp_in: i64) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({"sub": uuid::Uuid::new_v4().to_string(), "aud": "authenticated", "role": "authenticated",
               "iat": now, "exp": now + exp_in})
    }

    #[test]
    fn hs256_round_trip_and_refusals() {
        let keys = Keys::from_config(&cfg(Some("a-secret-that-is-long-enough-0123456789"), None)).expect("keys");
        let t = keys.sign(&user_claims(60));
        assert_eq!(keys.verify(&t).expect("valid").1, Source::Local);
        assert!(matches!(keys.verify(&keys.sign(&user_claims(-5))), Err(TokenError::Expired)));
        let mut wrong_aud = user_claims(60);
        wrong_aud["aud"] = json!("somebody-else");
        assert!(keys.verify(&keys.sign(&wrong_aud)).is_err());
        let other = Keys::from_config(&cfg(Some("another-secret-that-is-long-enough-000"), None)).expect("keys");
        assert!(keys.verify(&other.sign(&user_claims(60))).is_err(), "forged");
        // alg: none
        let parts: Vec<&str> = t.split('.').collect();
        let none = format!("{}.{}.", B64.encode(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert!(keys.verify(&none).is_err());
        assert!(keys.verify("garbage").is_err());
        assert!(keys.jwks()["keys"].as_array().expect("keys").is_empty(), "secrets are not published");
    }

    #[test]
    fn es256_from_a_jwk_set_signs_and_publishes_only_the_public_half() {
        let jwk = generate_es256_jwk();
        let keys = Keys::from_config(&cfg(None, Some(json!({"keys": [jwk.clone()]}).to_string()))).expect("keys");
        let t = keys.sign(&user_claims(60));
        let header = jsonwebtoken::decode_header(&t).expect("header");
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), jwk["kid"].as_str());
        keys.verify(&t).expect("verifies");
        let published = &keys.jwks()["keys"][0];
        assert!(published.get("d").is_none());
        assert_eq!(published["x"], jwk["x"]);
        // the published key alone verifies the token
        let public_only = Keys::from_config(&AuthConfig {
            jwt_secret: Some("x".repeat(40)),
            external_issuer: Some(ExternalIssuer { issuer: String::new(), jwt_secret: None, jwks: Some(keys.jwks().to_string()) }),
            ..AuthConfig::default()
        })
        .expect("keys");
        assert_eq!(public_only.verify(&t).expect("verifies").1, Source::External);
    }

    #[test]
    fn a_bad_jwk_set_is_a_clear_error() {
        for (set, needle) in [
            ("not json", "not JSON"),
            (r#"[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]"#, "P-256"),
            (r#"[{"kty":"OKP"}]"#, "not supported"),
            (r#"[{"kty":"oct"}]"#, "missing \"k\""),
        ] {
            let err = Keys::from_config(&cfg(None, Some(set.into()))).expect_err(set).to_string();
            assert!(err.contains(needle), "{set}: {err}");
        }
    }
}
