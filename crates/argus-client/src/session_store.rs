//! Where a signed-in session is kept between runs.
//!
//! - [`KeyringStore`]: the OS keyring (Secret Service on Linux, Keychain on
//!   macOS, Credential Manager on Windows). The default.
//! - [`EncryptedFileStore`]: where no keyring exists, a file encrypted with
//!   a key derived (argon2id) from a passphrase the user enters; the key is
//!   never written anywhere.
//! - [`NoStore`]: keep nothing; the user signs in on each start.
//!
//! There is no silent fallback: [`KeyringStore::open`] fails with
//! [`Error::KeyringUnavailable`] and the caller tells the user and lets them
//! choose one of the others.

use std::{fmt, path::PathBuf};

use crate::{Error, Result};

/// A place for the session (serialized as JSON by the caller).
pub trait SessionStore: Send + Sync + fmt::Debug {
    fn load(&self) -> Result<Option<String>>;
    fn save(&self, secret: &str) -> Result<()>;
    fn clear(&self) -> Result<()>;
    /// A line for the user: where the session is kept.
    fn describe(&self) -> String;
}

/// Nothing is kept: the session lives as long as the process.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoStore;

impl SessionStore for NoStore {
    fn load(&self) -> Result<Option<String>> {
        Ok(None)
    }
    fn save(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn clear(&self) -> Result<()> {
        Ok(())
    }
    fn describe(&self) -> String {
        "not kept: you will sign in again next time".into()
    }
}

/// The OS keyring, one entry per server.
pub struct KeyringStore {
    entry: keyring_core::Entry,
    server: String,
}

impl fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringStore").field("server", &self.server).finish_non_exhaustive()
    }
}

const SERVICE: &str = "argus";

fn keyring_err(e: keyring_core::Error) -> Error {
    use keyring_core::Error as K;
    match e {
        K::NoDefaultStore | K::NoStorageAccess(_) | K::PlatformFailure(_) => Error::KeyringUnavailable(e.to_string()),
        other => Error::Keyring(other.to_string()),
    }
}

static STORE_SET: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();

/// Makes the platform's keyring keyring-core's default store, once.
fn install_platform_store() -> Result<()> {
    STORE_SET
        .get_or_init(|| {
            #[cfg(target_os = "linux")]
            let store = zbus_secret_service_keyring_store::Store::new();
            #[cfg(target_os = "macos")]
            let store = apple_native_keyring_store::keychain::Store::new();
            #[cfg(target_os = "windows")]
            let store = windows_native_keyring_store::Store::new();
            #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
            let store: keyring_core::Result<std::sync::Arc<keyring_core::CredentialStore>> = Err(keyring_core::Error::NoDefaultStore);
            match store {
                Ok(s) => {
                    keyring_core::set_default_store(s);
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        })
        .clone()
        .map_err(Error::KeyringUnavailable)
}

impl KeyringStore {
    /// The keyring entry for `server`. Fails with
    /// [`Error::KeyringUnavailable`] when this machine has no usable
    /// keyring (no D-Bus session, a locked or missing Secret Service).
    pub fn open(server: &str) -> Result<Self> {
        install_platform_store()?;
        let entry = keyring_core::Entry::new(SERVICE, &format!("session:{server}")).map_err(keyring_err)?;
        // Probe: a keyring that cannot be read is no keyring.
        match entry.get_password() {
            Ok(_) | Err(keyring_core::Error::NoEntry) => {}
            Err(e) => return Err(keyring_err(e)),
        }
        Ok(Self { entry, server: server.to_owned() })
    }
}

impl SessionStore for KeyringStore {
    fn load(&self) -> Result<Option<String>> {
        match self.entry.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_err(e)),
        }
    }
    fn save(&self, secret: &str) -> Result<()> {
        self.entry.set_password(secret).map_err(keyring_err)
    }
    fn clear(&self) -> Result<()> {
        match self.entry.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_err(e)),
        }
    }
    fn describe(&self) -> String {
        "in the system keyring".into()
    }
}

/// A file encrypted with XChaCha20-Poly1305 under a key derived from the
/// user's passphrase with argon2id (a fresh salt and nonce on every save).
pub struct EncryptedFileStore {
    path: PathBuf,
    passphrase: zeroize::Zeroizing<String>,
}

impl fmt::Debug for EncryptedFileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedFileStore").field("path", &self.path).finish_non_exhaustive()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed {
    format: String,
    /// argon2id parameters: memory KiB, iterations, lanes.
    m: u32,
    t: u32,
    p: u32,
    salt: String,
    nonce: String,
    ciphertext: String,
}

const FORMAT: &str = "argus-session-v1";

impl EncryptedFileStore {
    /// `passphrase` must be at least 8 characters.
    pub fn new(path: impl Into<PathBuf>, passphrase: &str) -> Result<Self> {
        if passphrase.chars().count() < 8 {
            return Err(Error::Invalid("the passphrase must be at least 8 characters".into()));
        }
        Ok(Self { path: path.into(), passphrase: zeroize::Zeroizing::new(passphrase.to_owned()) })
    }

    fn key(&self, salt: &[u8], m: u32, t: u32, p: u32) -> Result<zeroize::Zeroizing<[u8; 32]>> {
        let params = argon2::Params::new(m, t, p, Some(32)).map_err(|e| Error::Invalid(format!("session file: {e}")))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        a.hash_password_into(self.passphrase.as_bytes(), salt, key.as_mut()).map_err(|e| Error::Invalid(format!("session file: {e}")))?;
        Ok(key)
    }
}

impl SessionStore for EncryptedFileStore {
    fn load(&self) -> Result<Option<String>> {
        use chacha20poly1305::{KeyInit, XChaCha20Poly1305, aead::Aead};
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::file(&self.path, e)),
        };
        let bad = |why: &str| Error::SessionFile { path: self.path.clone(), reason: why.to_owned() };
        let s: Sealed = serde_json::from_str(&text).map_err(|_| bad("it is not an Argus session file"))?;
        if s.format != FORMAT {
            return Err(bad("it was written by another version of Argus"));
        }
        // Bounds keep a tampered file from asking for gigabytes.
        if s.m > 1 << 20 || s.t > 20 || s.p > 16 {
            return Err(bad("its key parameters are out of range"));
        }
        let b64 = |v: &str| hex::decode(v).map_err(|_| bad("it is damaged"));
        let (salt, nonce, ct) = (b64(&s.salt)?, b64(&s.nonce)?, b64(&s.ciphertext)?);
        if nonce.len() != 24 {
            return Err(bad("it is damaged"));
        }
        let key = self.key(&salt, s.m, s.t, s.p)?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let plain = cipher.decrypt(nonce.as_slice().into(), ct.as_slice()).map_err(|_| Error::WrongPassphrase)?;
        String::from_utf8(plain).map(Some).map_err(|_| bad("it is damaged"))
    }

    fn save(&self, secret: &str) -> Result<()> {
        use chacha20poly1305::{
            KeyInit, XChaCha20Poly1305,
            aead::{Aead, AeadCore, OsRng, rand_core::RngCore},
        };
        let (m, t, p) = (19 * 1024, 2, 1); // OWASP's argon2id minimum
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let key = self.key(&salt, m, t, p)?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = cipher.encrypt(&nonce, secret.as_bytes()).map_err(|_| Error::Invalid("could not encrypt the session".into()))?;
        let sealed = Sealed { format: FORMAT.into(), m, t, p, salt: hex::encode(salt), nonce: hex::encode(nonce), ciphertext: hex::encode(ct) };
        let json = serde_json::to_string_pretty(&sealed).map_err(|e| Error::Invalid(e.to_string()))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
        }
        // Write beside, then rename: a crash never leaves half a file.
        let tmp = self.path.with_extension("tmp");
        write_private(&tmp, json.as_bytes())?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::file(&self.path, e))
    }

    fn clear(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::file(&self.path, e)),
        }
    }

    fn describe(&self) -> String {
        format!("in {}, encrypted with your passphrase", self.path.display())
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path).map_err(|e| Error::file(path, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| Error::file(path, e))
}
