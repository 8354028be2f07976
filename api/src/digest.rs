//! Digests as text.

/// Lower-case hexadecimal, as digests are stored and compared.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
