//! Idempotency keys whose first request is running in this process.

/// Keys whose first request is running in this process.
#[derive(Debug, Default)]
pub struct InFlight(std::sync::Mutex<std::collections::HashSet<(String, String)>>);

/// Holds a key in flight until dropped.
pub struct InFlightGuard<'a> {
    register: &'a InFlight,
    entry: (String, String),
}

impl InFlight {
    /// `None` when a request with this user's key is already running here.
    pub fn enter(&self, user_id: &str, key: &str) -> Option<InFlightGuard<'_>> {
        let entry = (user_id.to_owned(), key.to_owned());
        let fresh = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(entry.clone());
        // Built only when taken: a guard dropped here would free the key of the running request.
        if fresh { Some(InFlightGuard { register: self, entry }) } else { None }
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.register.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.entry);
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;

    #[test]
    fn a_key_is_in_flight_until_its_request_ends() {
        let register = InFlight::default();
        let first = register.enter("u1", "k1").expect("free");
        assert!(register.enter("u1", "k1").is_none(), "the same user's key is taken");
        assert!(register.enter("u2", "k1").is_some(), "keys belong to their user");
        drop(first);
        assert!(register.enter("u1", "k1").is_some(), "free again once the request ended");
    }
}
