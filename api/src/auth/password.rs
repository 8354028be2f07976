//! argon2id password hashing. Unknown users are checked against a dummy hash so that a wrong
//! username costs the same work as a wrong password.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::AuthConfig;

pub struct Passwords {
    params: Params,
    dummy_hash: String,
}

impl Passwords {
    pub fn new(config: &AuthConfig) -> anyhow::Result<Passwords> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let mut passwords = Passwords { params, dummy_hash: String::new() };
        passwords.dummy_hash = passwords.hash("terren-dummy-password-for-timing")?;
        Ok(passwords)
    }

    fn argon2(&self) -> Argon2<'_> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    }

    /// Verifies with the parameters stored in the hash itself, so old hashes keep working after
    /// the configured parameters change.
    pub fn verify(&self, password: &str, stored_hash: &str) -> bool {
        PasswordHash::new(stored_hash)
            .is_ok_and(|parsed| self.argon2().verify_password(password.as_bytes(), &parsed).is_ok())
    }

    /// The same work as `verify`, for a user that does not exist or may not log in.
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.verify(password, &self.dummy_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let mut config = Config::default().auth;
        config.argon2_memory_kib = 64;
        config.argon2_iterations = 1;
        let passwords = Passwords::new(&config).unwrap();
        let a = passwords.hash("correct horse").unwrap();
        let b = passwords.hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salt must differ");
        assert!(passwords.verify("correct horse", &a));
        assert!(!passwords.verify("wrong horse", &a));
        assert!(!passwords.verify("correct horse", "not a hash"));
    }
}
